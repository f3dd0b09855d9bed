//! Entries shared between replicas through Redis: `<prefix>cache:<hex key>` (with the
//! default prefix `tollgate:cache:…`), the value a compact binary encoding of the entry,
//! the Redis TTL its freshness. Values read back are checked like any input.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{Cached, Stored};

const MAGIC: &[u8; 4] = b"TGC1";
const RESPONSE: u8 = 1;
const VARIANTS: u8 = 2;

/// The bytes stored for an entry.
pub(crate) fn encode(v: &Stored) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.weight() as usize);
    out.put_slice(MAGIC);
    match v {
        Stored::Response(c) => {
            out.put_u8(RESPONSE);
            out.put_u16(c.status);
            out.put_u64(c.stored_at);
            out.put_u64(c.initial_age);
            out.put_u8(u8::from(c.auth_ok));
            out.put_u16(u16::try_from(c.headers.len()).unwrap_or(u16::MAX));
            for (name, value) in c.headers.iter().take(usize::from(u16::MAX)) {
                out.put_u16(name.as_str().len() as u16);
                out.put_slice(name.as_str().as_bytes());
                out.put_u32(value.len() as u32);
                out.put_slice(value.as_bytes());
            }
            out.put_u32(c.body.len() as u32);
            out.put_slice(&c.body);
        }
        Stored::Variants(names) => {
            out.put_u8(VARIANTS);
            out.put_u16(names.len() as u16);
            for n in names.iter() {
                out.put_u16(n.as_str().len() as u16);
                out.put_slice(n.as_str().as_bytes());
            }
        }
    }
    out
}

/// An entry from stored bytes; `None` for anything malformed.
pub(crate) fn decode(bytes: Vec<u8>) -> Option<Stored> {
    let mut b = Bytes::from(bytes);
    if b.remaining() < 5 || &b[..4] != MAGIC {
        return None;
    }
    b.advance(4);
    match b.get_u8() {
        RESPONSE => {
            if b.remaining() < 2 + 8 + 8 + 1 + 2 {
                return None;
            }
            let status = b.get_u16();
            let stored_at = b.get_u64();
            let initial_age = b.get_u64();
            let auth_ok = b.get_u8() == 1;
            let n = b.get_u16();
            let mut headers = HeaderMap::with_capacity(usize::from(n));
            for _ in 0..n {
                let name = take(&mut b, 2)?;
                let value = take(&mut b, 4)?;
                headers.append(
                    HeaderName::from_bytes(&name).ok()?,
                    HeaderValue::from_maybe_shared(value).ok()?,
                );
            }
            let body = take(&mut b, 4)?;
            http::StatusCode::from_u16(status).ok()?;
            Some(Stored::Response(Arc::new(Cached {
                status,
                headers,
                body,
                stored_at,
                initial_age,
                auth_ok,
            })))
        }
        VARIANTS => {
            if b.remaining() < 2 {
                return None;
            }
            let n = b.get_u16();
            let names = (0..n)
                .map(|_| HeaderName::from_bytes(&take(&mut b, 2)?).ok())
                .collect::<Option<Vec<_>>>()?;
            Some(Stored::Variants(names.into()))
        }
        _ => None,
    }
}

/// A length-prefixed field (`width` bytes of big-endian length).
fn take(b: &mut Bytes, width: usize) -> Option<Bytes> {
    if b.remaining() < width {
        return None;
    }
    let len = if width == 2 {
        usize::from(b.get_u16())
    } else {
        b.get_u32() as usize
    };
    (b.remaining() >= len).then(|| b.split_to(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let c = Cached {
            status: 203,
            headers,
            body: Bytes::from_static(b"hello"),
            stored_at: 1_700_000_000,
            initial_age: 3,
            auth_ok: true,
        };
        let bytes = encode(&Stored::Response(Arc::new(c)));
        let Some(Stored::Response(back)) = decode(bytes.clone()) else {
            panic!("decodes")
        };
        assert_eq!(back.status, 203);
        assert_eq!(back.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(&back.body[..], b"hello");
        assert_eq!(
            (back.stored_at, back.initial_age, back.auth_ok),
            (1_700_000_000, 3, true)
        );
        for cut in 0..bytes.len() {
            assert!(decode(bytes[..cut].to_vec()).is_none(), "cut at {cut}");
        }
        let v = Stored::Variants(vec![HeaderName::from_static("accept")].into());
        assert!(matches!(decode(encode(&v)), Some(Stored::Variants(n)) if n.len() == 1));
        assert!(decode(b"nonsense".to_vec()).is_none());
    }
}
