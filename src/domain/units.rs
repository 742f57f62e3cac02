//! Units as newtypes: a latency is never confused with a cost.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! unit {
    ($(#[$doc:meta])* $name:ident, $fmt:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }

        impl std::ops::Add for $name {
            type Output = $name;
            fn add(self, rhs: $name) -> $name {
                $name(self.0 + rhs.0)
            }
        }
    };
}

unit!(
    /// Milliseconds of one-way latency or round-trip time.
    Millis, "{:.1} ms"
);
unit!(
    /// Link bandwidth in gigabits per second.
    Gbps, "{} Gbps"
);
unit!(
    /// Price per gigabyte transferred, in US dollars.
    UsdPerGb, "${:.3}/GB"
);
unit!(
    /// An amount of money in US dollars.
    Usd, "${:.2}"
);
unit!(
    /// A volume of traffic in gigabytes (one day's, in the usage history).
    Gigabytes, "{:.1} GB"
);
unit!(
    /// Traffic volume per month in gigabytes.
    GbPerMonth, "{} GB/month"
);

impl UsdPerGb {
    pub fn times(self, volume: GbPerMonth) -> Usd {
        Usd(self.0 * volume.0)
    }
}
