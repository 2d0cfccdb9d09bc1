//! The client's address: the peer's, unless the peer is a proxy the
//! service trusts, whose headers then say who its client was.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::HeaderValue;
use ipnet::IpNet;

use crate::extract::text;

/// Loopback and private ranges, as Rails trusts by default: a proxy in
/// front of a service is on the same host or network.
const DEFAULT_TRUSTED: [&str; 6] = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

/// The proxies whose `X-Forwarded-For` and `X-Real-IP` are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustedProxies {
    ranges: Vec<IpNet>,
}

impl Default for TrustedProxies {
    fn default() -> Self {
        Self::parse(DEFAULT_TRUSTED).expect("valid ranges")
    }
}

impl TrustedProxies {
    /// No proxy: headers never decide the address.
    pub(crate) fn none() -> Self {
        Self { ranges: Vec::new() }
    }

    /// Ranges in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`) or single
    /// addresses; the first that is neither, as an error.
    pub(crate) fn parse<I>(ranges: I) -> Result<Self, String>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let ranges = ranges
            .into_iter()
            .map(|range| {
                let range = range.as_ref().trim();
                range
                    .parse::<IpNet>()
                    .or_else(|_| range.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| range.to_owned())
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { ranges })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.ranges.iter().any(|range| range.contains(&address))
    }

    /// The client's address, from the peer and what it says:
    ///
    /// - an unknown peer, or one not trusted: its own address (`None` when
    ///   unknown); its headers are anyone's;
    /// - a trusted proxy: the right-most address of `X-Forwarded-For`
    ///   that is not a trusted proxy (each proxy appends its peer, so the
    ///   ones before a client's are the client's to choose), or the
    ///   left-most when all are; else a valid `X-Real-IP`; else the peer.
    ///
    /// `X-Forwarded-For` comes first because every proxy appends to it,
    /// while many (load balancers of clouds, HAProxy, Envoy) pass on an
    /// `X-Real-IP` that the client made up.
    pub(crate) fn client<'h>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl DoubleEndedIterator<Item = &'h HeaderValue>,
        real_ip: Option<&HeaderValue>,
    ) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        self.forwarded_client(forwarded_for)
            .or_else(|| real_ip.and_then(|value| address(&text(value))))
            .or(Some(peer))
    }

    /// The right-most untrusted address of the `X-Forwarded-For` lines,
    /// or the left-most address when all are trusted; `None` when the
    /// right-most entry is not an address.
    fn forwarded_client<'h>(
        &self,
        lines: impl DoubleEndedIterator<Item = &'h HeaderValue>,
    ) -> Option<IpAddr> {
        let mut reached = None;
        for line in lines.rev() {
            for entry in text(line).rsplit(',') {
                // An entry that is not an address is where trust ends.
                let Some(hop) = address(entry) else {
                    return reached;
                };
                if !self.trusts(hop) {
                    return Some(hop);
                }
                reached = Some(hop);
            }
        }
        reached
    }

    /// The peer's address, `X-Real-IP` as sent when a trusted proxy sent
    /// it: the Python relayer's rule, minus headers from anyone.
    pub(crate) fn python_client(
        &self,
        peer: Option<IpAddr>,
        real_ip: Option<&HeaderValue>,
    ) -> Option<RemoteAddr> {
        let peer = peer?.to_canonical();
        Some(match real_ip {
            Some(real_ip) if self.trusts(peer) => RemoteAddr::AsSent(real_ip.clone()),
            _ => RemoteAddr::Ip(peer),
        })
    }
}

/// The client's address as a record has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoteAddr {
    Ip(IpAddr),
    /// A header's value, as a trusted proxy sent it.
    AsSent(HeaderValue),
}

impl RemoteAddr {
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Self::Ip(address) => Cow::Owned(address.to_string()),
            Self::AsSent(value) => text(value),
        }
    }
}

/// An address as proxies write them: `203.0.113.9`, `2001:db8::1`, with a
/// port (`203.0.113.9:4711`, `[2001:db8::1]:4711`) or brackets.
fn address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| {
            entry
                .strip_prefix('[')
                .and_then(|entry| entry.strip_suffix(']'))
                .unwrap_or(entry)
                .parse::<IpAddr>()
        })
        .ok()
        .map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    fn lines(lines: &[&'static str]) -> Vec<HeaderValue> {
        lines
            .iter()
            .map(|line| HeaderValue::from_static(line))
            .collect()
    }

    fn client(
        peer: &str,
        forwarded_for: &[&'static str],
        real_ip: Option<&'static str>,
    ) -> Option<IpAddr> {
        let real_ip = real_ip.map(HeaderValue::from_static);
        TrustedProxies::default().client(
            Some(ip(peer)),
            lines(forwarded_for).iter(),
            real_ip.as_ref(),
        )
    }

    #[test]
    fn loopback_and_private_ranges_are_trusted_by_default() {
        let trusted = TrustedProxies::default();
        for address in [
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(trusted.trusts(ip(address)), "{address}");
        }
        for address in [
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!trusted.trusts(ip(address)), "{address}");
        }
    }

    #[test]
    fn an_untrusted_or_unknown_peer_is_its_own_address() {
        assert_eq!(
            client("198.51.100.7", &["203.0.113.9"], Some("203.0.113.9")),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            TrustedProxies::default().client(None, lines(&["203.0.113.9"]).iter(), None),
            None
        );
        let none = TrustedProxies::none();
        assert_eq!(
            none.client(Some(ip("127.0.0.1")), lines(&["203.0.113.9"]).iter(), None),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn the_right_most_untrusted_forwarded_address_is_the_client() {
        let forged_then_real = ["1.1.1.1, 203.0.113.9", "10.0.0.2 , 10.0.0.3"];
        assert_eq!(
            client("10.0.0.4", &forged_then_real, Some("6.6.6.6")),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client("127.0.0.1", &["[2001:db8::7]:4711, 10.0.0.1:80"], None),
            Some(ip("2001:db8::7"))
        );
        // All trusted: the first hop.
        assert_eq!(
            client("127.0.0.1", &["10.9.9.9, 10.0.0.1"], None),
            Some(ip("10.9.9.9"))
        );
        // Trust ends at an entry that is not an address.
        assert_eq!(
            client("127.0.0.1", &["203.0.113.9, unknown, 10.0.0.1"], None),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn x_real_ip_decides_without_a_forwarded_address() {
        assert_eq!(
            client("127.0.0.1", &[], Some(" 203.0.113.7 ")),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client("127.0.0.1", &["garbage"], Some("203.0.113.7")),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client("127.0.0.1", &[], Some("not an address")),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn the_python_rule_keeps_x_real_ip_as_sent_from_trusted_peers_only() {
        let trusted = TrustedProxies::default();
        let real_ip = HeaderValue::from_static("anything");
        let text = |peer| {
            trusted
                .python_client(Some(ip(peer)), Some(&real_ip))
                .unwrap()
                .text()
                .into_owned()
        };
        assert_eq!(text("127.0.0.1"), "anything");
        assert_eq!(text("8.8.8.8"), "8.8.8.8");
        assert_eq!(trusted.python_client(None, Some(&real_ip)), None);
    }

    #[test]
    fn ranges_and_single_addresses_parse_and_garbage_is_named() {
        let trusted = TrustedProxies::parse(["203.0.113.0/24", " 2001:db8::1 "]).unwrap();
        assert!(trusted.trusts(ip("203.0.113.77")));
        assert!(trusted.trusts(ip("2001:db8::1")));
        assert!(!trusted.trusts(ip("127.0.0.1")));
        assert_eq!(
            TrustedProxies::parse(["10.0.0.0/33"]),
            Err("10.0.0.0/33".to_owned())
        );
    }
}
