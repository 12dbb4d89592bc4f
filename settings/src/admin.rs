//! `FIRSTWEEK_ADMIN_ADDR`: where the scheduler's and the worker's
//! `/healthz`, `/readyz` and `/metrics` listen.

use std::net::SocketAddr;

use crate::environment::invalid;
use crate::{Environment, SettingsError};

/// Where a service's admin endpoints listen (`FIRSTWEEK_ADMIN_ADDR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAddr {
    /// `off`: no admin endpoints.
    Off,
    /// The variable is unset: the service's default address. Replicas on one
    /// host all want it, so when it is taken the service listens on another
    /// port of the same interface and logs which.
    Default(SocketAddr),
    /// Set by the operator: exactly this address, or the service does not start.
    Explicit(SocketAddr),
}

impl AdminAddr {
    /// The address asked for, if any.
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            AdminAddr::Off => None,
            AdminAddr::Default(a) | AdminAddr::Explicit(a) => Some(a),
        }
    }
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `FIRSTWEEK_ADMIN_ADDR`: `host:port` or `off`; unset: `default_admin`,
    /// the service's own default.
    pub fn admin_addr(&self, default_admin: &str) -> Result<AdminAddr, SettingsError> {
        let Some(admin) = self.var("FIRSTWEEK_ADMIN_ADDR") else {
            return default_admin.parse().map(AdminAddr::Default).map_err(|_| {
                invalid(
                    "FIRSTWEEK_ADMIN_ADDR",
                    format!("the default {default_admin:?} is not host:port"),
                )
            });
        };
        if admin.eq_ignore_ascii_case("off") {
            return Ok(AdminAddr::Off);
        }
        admin.parse().map(AdminAddr::Explicit).map_err(|_| {
            invalid(
                "FIRSTWEEK_ADMIN_ADDR",
                format!("{admin:?} is not host:port or off"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::env_of;

    #[test]
    fn an_unset_admin_address_is_the_default_and_a_set_one_is_explicit() {
        let addr = |pairs: &[(&str, &str)]| env_of(pairs).admin_addr("127.0.0.1:0").unwrap();
        let default: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(addr(&[]), AdminAddr::Default(default));
        // The same address, but the operator asked for it: no fallback.
        assert_eq!(
            addr(&[("FIRSTWEEK_ADMIN_ADDR", "127.0.0.1:0")]),
            AdminAddr::Explicit(default)
        );
        assert_eq!(addr(&[("FIRSTWEEK_ADMIN_ADDR", "off")]), AdminAddr::Off);
    }
}
