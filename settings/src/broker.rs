//! `AMQP_URL`: the scheduler and the workers talk to RabbitMQ; the list's
//! parser is the broker adapter's ([`BrokerAddresses`]).

use firstweek_broker::BrokerAddresses;

use crate::{Environment, SettingsError};

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `AMQP_URL` (required): one URL, or one per node of a cluster,
    /// comma-separated.
    pub fn amqp_url(&self) -> Result<BrokerAddresses, SettingsError> {
        let value = self.required(
            "AMQP_URL",
            "e.g. amqp://guest:guest@127.0.0.1:5672/%2f, or one URL per node separated by commas",
        )?;
        BrokerAddresses::parse(&value).map_err(|e| SettingsError::Invalid {
            variable: "AMQP_URL",
            problem: e.problem,
        })
    }
}
