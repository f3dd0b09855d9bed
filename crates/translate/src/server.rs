//! Process-wide settings: `server:` and `trusted_proxies:`.

use std::time::Duration;

use ipnet::IpNet;
use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::native::Server;
use tollgate_model::units::{ByteSize, Dur};

use crate::problems::{At, Pos, Problems};
use crate::syntax;

/// `server:` with every unset field taken from [`ir::ServerSettings::default`].
pub(crate) fn settings(
    server: Option<At<'_, Spanned<Server>>>,
    p: &mut Problems<'_>,
) -> ir::ServerSettings {
    let d = ir::ServerSettings::default();
    let Some(at) = server else {
        return d;
    };
    let pos = at.pos(at.item);
    let s = &at.item.value;
    let mut check = Checker { pos, p };
    ir::ServerSettings {
        max_connections: check.count("max_connections", s.max_connections, d.max_connections),
        header_read_timeout: check.duration(
            "header_read_timeout",
            s.header_read_timeout,
            d.header_read_timeout,
        ),
        body_read_timeout: check.duration(
            "body_read_timeout",
            s.body_read_timeout,
            d.body_read_timeout,
        ),
        idle_timeout: check.duration("idle_timeout", s.idle_timeout, d.idle_timeout),
        max_header_bytes: check.bytes("max_header_bytes", s.max_header_bytes, d.max_header_bytes),
        max_header_count: check.count("max_header_count", s.max_header_count, d.max_header_count),
        h2_max_concurrent_streams: check.count(
            "h2_max_concurrent_streams",
            s.h2_max_concurrent_streams,
            d.h2_max_concurrent_streams,
        ),
        // Zero is meaningful for both: stop at once / give in-flight requests no grace.
        shutdown_delay: s.shutdown_delay.map_or(d.shutdown_delay, |v| v.0),
        shutdown_grace: s.shutdown_grace.map_or(d.shutdown_grace, |v| v.0),
        access_log: s.access_log.unwrap_or(d.access_log),
        cache_max_memory: match s.cache_max_memory {
            Some(b) if b.0 == 0 => {
                check.zero("cache_max_memory");
                d.cache_max_memory
            }
            Some(b) => b.0,
            None => d.cache_max_memory,
        },
    }
}

/// Zero limits would make the gateway refuse every request; they are surely mistakes.
struct Checker<'p, 'd> {
    pos: Pos,
    p: &'p mut Problems<'d>,
}

impl Checker<'_, '_> {
    fn count(&mut self, key: &str, v: Option<u32>, default: u32) -> u32 {
        match v {
            Some(0) => {
                self.zero(key);
                default
            }
            Some(n) => n,
            None => default,
        }
    }

    fn duration(&mut self, key: &str, v: Option<Dur>, default: Duration) -> Duration {
        match v {
            Some(d) if d.0.is_zero() => {
                self.zero(key);
                default
            }
            Some(d) => d.0,
            None => default,
        }
    }

    fn bytes(&mut self, key: &str, v: Option<ByteSize>, default: u32) -> u32 {
        match v.map(|b| u32::try_from(b.0)) {
            Some(Ok(0)) => {
                self.zero(key);
                default
            }
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                self.p.push(
                    self.pos,
                    format!("server: {key} is too large (at most 4GiB)"),
                );
                default
            }
            None => default,
        }
    }

    fn zero(&mut self, key: &str) {
        self.p.push(
            self.pos,
            format!("server: {key} must be greater than 0; remove it to use the default"),
        );
    }
}

/// `trusted_proxies:` as networks, in the order written.
pub(crate) fn trusted_proxies(
    list: Option<At<'_, Spanned<Vec<String>>>>,
    p: &mut Problems<'_>,
) -> Vec<IpNet> {
    let Some(at) = list else {
        return Vec::new();
    };
    // Entries are plain strings, so the list's own position is the best one we have.
    let pos = at.pos(at.item);
    at.item
        .value
        .iter()
        .filter_map(|entry| match syntax::cidr(entry) {
            Ok(net) => Some(net),
            Err(e) => {
                p.push(pos, format!("trusted_proxies: {e}"));
                None
            }
        })
        .collect()
}
