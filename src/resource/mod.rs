//! Who writes the records: the service's identity, an OpenTelemetry
//! resource (`service.name`, `service.version`, `host.name`, ...), made
//! once when a relayer is built.

mod env;

pub use env::{RESOURCE_ATTRIBUTES_ENV, SERVICE_NAME_ENV};

/// `service.name`: the logical name of the service.
pub const SERVICE_NAME: &str = "service.name";
/// `service.version`: its version, e.g. `2.0.1`.
pub const SERVICE_VERSION: &str = "service.version";
/// `service.namespace`: the group of services it belongs to.
pub const SERVICE_NAMESPACE: &str = "service.namespace";
/// `service.instance.id`: this instance of the service.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// `deployment.environment.name`: e.g. `production`, `staging`.
pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment.name";
/// `host.name`: the host the service runs on.
pub const HOST_NAME: &str = "host.name";

/// The well-known attributes, in the order records write them; others
/// follow in the order they were set.
const ORDER: [&str; 6] = [
    SERVICE_NAME,
    SERVICE_NAMESPACE,
    SERVICE_VERSION,
    SERVICE_INSTANCE_ID,
    DEPLOYMENT_ENVIRONMENT,
    HOST_NAME,
];

/// Who writes the records: the attributes of an OpenTelemetry resource
/// (semantic-conventions names: `service.name`, `service.version`,
/// `service.namespace`, `service.instance.id`,
/// `deployment.environment.name`, `host.name`, and any other).
///
/// Made once, when the relayer is built, from (the first wins):
/// 1. the builder: [`Builder::service`](crate::Builder::service),
///    [`Builder::service_version`](crate::Builder::service_version), ...,
///    [`Builder::resource_attribute`](crate::Builder::resource_attribute);
/// 2. `OTEL_SERVICE_NAME` ([`SERVICE_NAME_ENV`]) for `service.name`;
/// 3. `OTEL_RESOURCE_ATTRIBUTES` ([`RESOURCE_ATTRIBUTES_ENV`]), parsed as
///    the OpenTelemetry SDKs do: `key=value` pairs separated by commas,
///    percent-decoded, the whole variable ignored (and a warning logged)
///    when a pair cannot be read;
/// 4. the host's name, read once, for `host.name`; and, as the
///    OpenTelemetry SDKs do, `unknown_service:<executable>` for a
///    `service.name` set nowhere.
///
/// The ECS and OTLP [record forms](crate::WireFormat) always write it (it
/// is the OTLP resource); the standard form writes it as `resource` only
/// when it [is configured](Self::is_configured); the Python 1.0 form never.
///
/// ```
/// use relayer::Relayer;
///
/// let relayer = Relayer::builder("logging")
///     .producer(relayer_test::MockProducer::new())
///     .service("checkout")
///     .service_version("2.0.1")
///     .build()?;
/// let resource = relayer.resource();
/// assert_eq!(resource.service_name(), "checkout");
/// assert_eq!(resource.get("service.version"), Some("2.0.1"));
/// assert!(resource.get("host.name").is_some());
/// # Ok::<(), relayer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    attributes: Vec<(String, String)>,
    /// Whether the builder or the environment set any attribute.
    configured: bool,
    /// Whether `service.name` was set, not the `unknown_service` default.
    named: bool,
}

impl Resource {
    /// The resource of a relayer whose builder set `builder` (in order, a
    /// later one of the same key winning): over the environment's, with
    /// the host's name.
    pub(crate) fn detect(builder: &[(String, String)]) -> Self {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Self::new(&env::attributes(), builder, Some(host))
    }

    /// The resource of `set` (the environment's, then the builder's, a
    /// later one of the same key winning), with `host.name` and the
    /// default `service.name` where they are not set.
    fn new(
        environment: &[(String, String)],
        builder: &[(String, String)],
        host: Option<String>,
    ) -> Self {
        let mut resource = Self {
            attributes: Vec::new(),
            configured: !(environment.is_empty() && builder.is_empty()),
            named: false,
        };
        for (key, value) in environment.iter().chain(builder) {
            resource.set(key, value.clone());
        }
        resource.named = resource.get(SERVICE_NAME).is_some();
        if !resource.named {
            resource.set(SERVICE_NAME, unknown_service());
        }
        if let Some(host) = host.filter(|host| !host.is_empty())
            && resource.get(HOST_NAME).is_none()
        {
            resource.set(HOST_NAME, host);
        }
        let rank = |key: &str| ORDER.iter().position(|known| *known == key);
        resource
            .attributes
            .sort_by_key(|(key, _)| rank(key).unwrap_or(ORDER.len()));
        resource
    }

    fn set(&mut self, key: &str, value: String) {
        match self.attributes.iter_mut().find(|(set, _)| set == key) {
            Some((_, old)) => *old = value,
            None => self.attributes.push((key.to_owned(), value)),
        }
    }

    /// The attribute `key`, e.g. `resource.get("service.version")`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(set, _)| set == key)
            .map(|(_, value)| value.as_str())
    }

    /// Every attribute, `service.name` first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// `service.name`: as set, else `unknown_service:<executable>`.
    pub fn service_name(&self) -> &str {
        self.get(SERVICE_NAME).unwrap_or_default()
    }

    /// Whether `service.name` was set (on the builder or in the
    /// environment), rather than the `unknown_service` default.
    pub fn is_named(&self) -> bool {
        self.named
    }

    /// Whether the builder or the environment set any attribute: then the
    /// standard record form writes the resource too.
    pub fn is_configured(&self) -> bool {
        self.configured
    }
}

/// `unknown_service:<executable name>`, the OpenTelemetry SDKs' default
/// `service.name` (opentelemetry-specification, `resource/sdk.md`,
/// "SDK-provided resource attributes").
fn unknown_service() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| Some(format!("unknown_service:{}", path.file_name()?.to_str()?)))
        .unwrap_or_else(|| "unknown_service".to_owned())
}

impl serde::Serialize for Resource {
    /// An object of its attributes, by their names.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn the_builder_wins_over_the_environment_which_wins_over_the_host() {
        let environment = env::from_variables(
            Some("service.name=env-attributes,host.name=env-host,team=payments,service.version=1"),
            Some("env-name"),
        );
        let builder = owned(&[("service.version", "2"), ("service.version", "3")]);
        let resource = Resource::new(&environment, &builder, Some("real-host".into()));
        assert_eq!(
            resource.iter().collect::<Vec<_>>(),
            [
                ("service.name", "env-name"),
                ("service.version", "3"),
                ("host.name", "env-host"),
                ("team", "payments"),
            ]
        );
        assert!(resource.is_configured() && resource.is_named());
    }

    #[test]
    fn nothing_set_is_the_host_and_an_unknown_service() {
        let resource = Resource::new(&[], &[], Some("real-host".into()));
        assert!(!resource.is_configured() && !resource.is_named());
        assert!(
            resource.service_name().starts_with("unknown_service:"),
            "{resource:?}"
        );
        assert_eq!(resource.get(HOST_NAME), Some("real-host"));
        assert_eq!(
            serde_json::to_value(&resource).unwrap()["host.name"],
            "real-host"
        );
    }
}
