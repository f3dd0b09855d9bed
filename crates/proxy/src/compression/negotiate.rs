//! `Accept-Encoding` negotiation (RFC 9110 §12.5.3): which of a route's codings, if any,
//! an answer may use.

use tollgate_ir::Coding;

/// A q-value in thousandths (`q=0.5` is 500), or `None` when it is not one.
fn qvalue(s: &str) -> Option<u16> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        // At most three digits: 9 * 100 + 9 * 10 + 9 fits easily.
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The q-values a header gives, per coding of interest.
#[derive(Default)]
struct Weights {
    /// zstd, br, gzip (in `Coding::ALL` order), identity, `*`.
    q: [Option<u16>; 5],
}

fn slot(token: &str) -> Option<usize> {
    let eq = |s: &str| token.eq_ignore_ascii_case(s);
    if eq("zstd") {
        Some(0)
    } else if eq("br") {
        Some(1)
    } else if eq("gzip") || eq("x-gzip") {
        Some(2)
    } else if eq("identity") {
        Some(3)
    } else if token == "*" {
        Some(4)
    } else {
        None
    }
}

fn index(c: Coding) -> usize {
    match c {
        Coding::Zstd => 0,
        Coding::Br => 1,
        Coding::Gzip => 2,
    }
}

fn parse(header: &[u8]) -> Weights {
    let mut w = Weights::default();
    // A header that is not text names no coding we know.
    let Ok(text) = std::str::from_utf8(header) else {
        return w;
    };
    for element in text.split(',') {
        let mut params = element.split(';');
        let token = params.next().unwrap_or("").trim();
        let Some(i) = slot(token) else { continue };
        let mut q = Some(1000);
        for p in params {
            if let Some((name, value)) = p.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                q = qvalue(value);
            }
        }
        // An element with a q-value that is not one is ignored: it neither refuses nor
        // prefers anything. The first mention of a coding counts.
        if let Some(q) = q
            && w.q[i].is_none()
        {
            w.q[i] = Some(q);
        }
    }
    w
}

/// The coding to answer with: among the route's `algorithms` the client accepts (q > 0,
/// by name or through `*`), the highest q wins, then the route's order. `None` when the
/// client accepts none of them, or prefers the uncompressed answer (`identity`, named or
/// through `*`, with a higher q than every coding).
pub(crate) fn choose(header: &[u8], algorithms: &[Coding]) -> Option<Coding> {
    let w = parse(header);
    let star = w.q[4];
    let mut best: Option<(Coding, u16)> = None;
    for &c in algorithms {
        let q = w.q[index(c)].or(star).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((c, q));
        }
    }
    let (coding, q) = best?;
    // The answer as it is competes only when the client weighs it (by name or `*`):
    // `gzip;q=0.5` alone still asks for gzip.
    let identity = w.q[3].or(star).unwrap_or(0);
    (q >= identity).then_some(coding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    const ALL: [Coding; 3] = Coding::ALL;

    fn pick(h: &str) -> Option<Coding> {
        choose(h.as_bytes(), &ALL)
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue(" 0.25 "), Some(250));
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0.001"), Some(1));
        assert_eq!(qvalue("1.5"), None);
        assert_eq!(qvalue("2"), None);
        assert_eq!(qvalue("0.0001"), None);
        assert_eq!(qvalue("abc"), None);
        assert_eq!(qvalue("-1"), None);
        assert_eq!(qvalue(""), None);
    }

    #[test]
    fn the_route_order_breaks_ties() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Zstd));
        assert_eq!(pick("gzip, br"), Some(Br));
        assert_eq!(pick("gzip"), Some(Gzip));
        assert_eq!(choose(b"gzip, br, zstd", &[Gzip, Br]), Some(Gzip));
        assert_eq!(choose(b"zstd", &[Gzip, Br]), None);
    }

    #[test]
    fn higher_q_wins() {
        assert_eq!(pick("gzip;q=1, br;q=0.5"), Some(Gzip));
        assert_eq!(pick("zstd;q=0.1, gzip;q=0.2"), Some(Gzip));
        assert_eq!(pick("GZIP ; Q=0.9 , Br;q=0.8"), Some(Gzip));
    }

    #[test]
    fn zero_refuses() {
        assert_eq!(pick("br;q=0"), None);
        assert_eq!(pick("br;q=0, gzip"), Some(Gzip));
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(pick("*, zstd;q=0"), Some(Br));
        assert_eq!(pick("gzip;q=0.000"), None);
    }

    #[test]
    fn star_and_identity() {
        assert_eq!(pick("*"), Some(Zstd));
        assert_eq!(pick("gzip;q=0.5, *;q=0.1"), Some(Gzip));
        assert_eq!(pick("identity"), None);
        assert_eq!(pick(""), None);
        assert_eq!(pick("deflate, compress"), None);
        // The client prefers the answer as it is.
        assert_eq!(pick("gzip;q=0.5, identity;q=1"), None);
        assert_eq!(pick("gzip, identity;q=0.5"), Some(Gzip));
        assert_eq!(pick("gzip;q=0.5, identity;q=0"), Some(Gzip));
    }

    #[test]
    fn bad_input_is_ignored_safely() {
        assert_eq!(pick("gzip;q=abc"), None);
        assert_eq!(pick("br;q=2, gzip"), Some(Gzip));
        assert_eq!(pick("gzip;q=abc, gzip;q=0.5"), Some(Gzip));
        assert_eq!(pick(";;,,, ;q=1"), None);
        assert_eq!(choose(b"\xff\xfe gzip", &ALL), None);
        assert_eq!(pick("x-gzip"), Some(Gzip));
        assert_eq!(pick("gzip;level=9;q=0.7"), Some(Gzip));
    }
}
