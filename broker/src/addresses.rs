//! `AMQP_URL`: the broker's nodes, parsed once and named by `host:port`
//! wherever they are shown, so a password never reaches a log.

/// An `AMQP_URL` that cannot be used; the problem never quotes a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AMQP_URL: {problem}")]
pub struct AddressError {
    /// What is wrong with the list.
    pub problem: String,
}

fn invalid(problem: String) -> AddressError {
    AddressError { problem }
}

/// `AMQP_URL`: the RabbitMQ broker's address, or the addresses of the nodes
/// of a cluster (same vhost and credentials), comma-separated. A service
/// connects to the first that answers and, on losing its connection, tries
/// the others in turn.
///
/// The URLs may hold a password: `Debug` and `Display` show `host:port` only.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddresses(Vec<BrokerAddress>);

/// One node's `amqp://` (or `amqps://`) URL.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    url: String,
    host_port: String,
}

impl BrokerAddress {
    /// The whole URL, credentials included: for connecting, never for a log.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port`, what logs and readiness name the node by.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }
}

impl std::fmt::Debug for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.host_port)
    }
}

impl BrokerAddresses {
    /// Parses `AMQP_URL`: one or more `amqp://` or `amqps://` URLs separated
    /// by commas. An empty entry, another scheme, an entry without a host, the
    /// same `host:port` twice, or entries naming different vhosts or users are
    /// refused with an error naming `AMQP_URL` (and never quoting a password).
    pub fn parse(value: &str) -> Result<BrokerAddresses, AddressError> {
        let mut nodes: Vec<BrokerAddress> = Vec::new();
        let mut first_vhost_user: Option<(String, String)> = None;
        let entries: Vec<&str> = value.split(',').map(str::trim).collect();
        let several = entries.len() > 1;
        for (i, entry) in entries.into_iter().enumerate() {
            let which = if several {
                format!("entry {} of {}", i + 1, value.split(',').count())
            } else {
                "the URL".to_string()
            };
            if entry.is_empty() {
                return Err(invalid(format!("{which} is empty")));
            }
            let (scheme, rest) = entry
                .split_once("://")
                .ok_or_else(|| invalid(format!("{which} is not an amqp:// or amqps:// URL")))?;
            let default_port = match scheme.to_ascii_lowercase().as_str() {
                "amqp" => 5672,
                "amqps" => 5671,
                _ => {
                    return Err(invalid(format!(
                        "{which} is a {scheme:?} URL, not amqp:// or amqps://"
                    )));
                }
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let (user, host_port) = match authority.rsplit_once('@') {
                Some((userinfo, host)) => (
                    userinfo.split(':').next().unwrap_or_default().to_string(),
                    host,
                ),
                None => (String::new(), authority),
            };
            let (host, port) = split_host_port(host_port);
            if host.is_empty() {
                return Err(invalid(format!("{which} names no host")));
            }
            let port = match port {
                None => default_port,
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| invalid(format!("{which}: {p:?} is not a port")))?,
            };
            let host_port = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            if nodes.iter().any(|n| n.host_port == host_port) {
                return Err(invalid(format!("{host_port} is listed twice")));
            }
            let vhost = path
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_string();
            match &first_vhost_user {
                None => first_vhost_user = Some((vhost, user)),
                Some((v, u)) if *v != vhost || *u != user => {
                    return Err(invalid(format!(
                        "{which} ({host_port}) names another vhost or user than the first: \
                             the URLs of a cluster differ only in host and port"
                    )));
                }
                Some(_) => {}
            }
            nodes.push(BrokerAddress {
                url: entry.to_string(),
                host_port,
            });
        }
        Ok(BrokerAddresses(nodes))
    }

    /// The nodes, in the order given (never empty).
    pub fn nodes(&self) -> &[BrokerAddress] {
        &self.0
    }

    /// How many nodes are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a parsed list names at least one node.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The list as `AMQP_URL` takes it (credentials included: for a child
    /// process's environment, never for a log).
    pub fn to_env_value(&self) -> String {
        self.0
            .iter()
            .map(|n| n.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `host[:port]` or `[v6]:port`, into the host and the port if given.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => ("", None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    }
}

impl std::str::FromStr for BrokerAddresses {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BrokerAddresses::parse(s)
    }
}

impl std::fmt::Debug for BrokerAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// `host:port` of each node, comma-separated: safe to log.
impl std::fmt::Display for BrokerAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&n.host_port)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_url_lists_one_url_per_node() {
        let one = BrokerAddresses::parse("amqp://guest:s3cret@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one.nodes()[0].host_port(), "127.0.0.1:5672");
        assert_eq!(
            one.nodes()[0].url(),
            "amqp://guest:s3cret@127.0.0.1:5672/%2f"
        );

        let three = BrokerAddresses::parse(
            "amqp://fw:s3cret@rabbit-0:5672/firstweek, amqp://fw:s3cret@rabbit-1/firstweek,amqps://fw:s3cret@[::1]:5671/firstweek",
        )
        .unwrap();
        let hosts: Vec<&str> = three.nodes().iter().map(|n| n.host_port()).collect();
        assert_eq!(hosts, ["rabbit-0:5672", "rabbit-1:5672", "[::1]:5671"]);
        assert_eq!(
            three.nodes()[1].url(),
            "amqp://fw:s3cret@rabbit-1/firstweek",
            "entries are trimmed"
        );
        assert_eq!(
            three.to_env_value(),
            "amqp://fw:s3cret@rabbit-0:5672/firstweek,amqp://fw:s3cret@rabbit-1/firstweek,amqps://fw:s3cret@[::1]:5671/firstweek"
        );
        for shown in [format!("{three}"), format!("{three:?}")] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("fw:"),
                "{shown}"
            );
            assert!(
                shown.contains("rabbit-0:5672") && shown.contains("rabbit-1:5672"),
                "{shown}"
            );
        }
    }

    #[test]
    fn a_bad_amqp_url_list_is_refused_naming_the_variable_and_no_password() {
        for (value, problem) in [
            ("", "the URL is empty"),
            ("amqp://u:s3cret@a/v,", "entry 2 of 2 is empty"),
            (
                "amqp://u:s3cret@a/v,,amqp://u:s3cret@b/v",
                "entry 2 of 3 is empty",
            ),
            ("http://u:s3cret@a/v", "not amqp:// or amqps://"),
            (
                "amqp://u:s3cret@a/v,rabbit-1:5672",
                "entry 2 of 2 is not an amqp:// or amqps:// URL",
            ),
            ("amqp://u:s3cret@/v", "names no host"),
            ("amqp://u:s3cret@a:99999/v", "is not a port"),
            (
                "amqp://u:s3cret@a/v,amqp://u:s3cret@a:5672/v",
                "a:5672 is listed twice",
            ),
            (
                "amqp://u:s3cret@a/v,amqp://u:s3cret@b/other",
                "another vhost or user",
            ),
            (
                "amqp://u:s3cret@a/v,amqp://x:s3cret@b/v",
                "another vhost or user",
            ),
        ] {
            let e = BrokerAddresses::parse(value).unwrap_err().to_string();
            assert!(e.starts_with("AMQP_URL: "), "{value}: {e}");
            assert!(e.contains(problem), "{value}: {e}");
            assert!(!e.contains("s3cret"), "{value}: {e}");
        }
    }
}
