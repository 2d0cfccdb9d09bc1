//! The W3C `tracestate` header: vendor entries passed on from caller to
//! callee, kept only when the whole list is valid.

/// The most list members a `tracestate` may have.
const MAX_MEMBERS: usize = 32;

/// The size W3C Trace Context asks every vendor to pass on at least; a
/// longer list is cut to it.
const MAX_BYTES: usize = 512;

/// Members longer than this go first when a list is cut.
const LONG_MEMBER_BYTES: usize = 128;

/// The `tracestate` to pass on, from the caller's header lines joined with
/// `,` (as HTTP combines repeated headers), by the rules of W3C Trace
/// Context: spaces and tabs around members are dropped, empty members
/// skipped, a repeated key kept once (its first value). A member with an
/// illegal key or value, or more than 32 members, makes the whole header
/// invalid: `None`, as for no header. A list longer than 512 bytes loses
/// its members longer than 128 bytes, then its last members, until it fits.
pub(crate) fn parse(header: &str) -> Option<String> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for member in header.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=')?;
        if !is_key(key) || !is_value(value) {
            return None;
        }
        if members.iter().any(|(kept, _)| *kept == key) {
            continue;
        }
        if members.len() == MAX_MEMBERS {
            return None;
        }
        members.push((key, value));
    }
    cut_to_size(&mut members);
    let joined = members
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",");
    (!joined.is_empty()).then_some(joined)
}

/// The size of `members` joined with commas.
fn size(members: &[(&str, &str)]) -> usize {
    let bytes: usize = members.iter().map(|(k, v)| k.len() + 1 + v.len()).sum();
    bytes + members.len().saturating_sub(1)
}

/// W3C's truncation: long members go first, then the last ones.
fn cut_to_size(members: &mut Vec<(&str, &str)>) {
    while size(members) > MAX_BYTES {
        let long = members
            .iter()
            .rposition(|(k, v)| k.len() + 1 + v.len() > LONG_MEMBER_BYTES);
        match long {
            Some(index) => members.remove(index),
            None => members.pop().expect("a list over 512 bytes has members"),
        };
    }
}

/// A key: a lower-case letter or digit, then up to 255 of lower-case
/// letters, digits, `_`, `-`, `*`, `/` and `@` (a multi-tenant key,
/// `tenant@system`, included).
fn is_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let first = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let rest = |c: &u8| first(c) || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@');
    (1..=256).contains(&bytes.len()) && first(&bytes[0]) && bytes[1..].iter().all(rest)
}

/// A value: 1 to 256 printable ASCII characters other than `,` and `=`,
/// spaces allowed but not last.
fn is_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let allowed = |c: &u8| (b' '..=b'~').contains(c) && *c != b',' && *c != b'=';
    (1..=256).contains(&bytes.len()) && bytes.iter().all(allowed) && bytes.last() != Some(&b' ')
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn valid_lists_are_passed_on_without_spaces() {
        assert_eq!(parse("foo=1").as_deref(), Some("foo=1"));
        assert_eq!(
            parse(" foo=1 \t , \t bar=2,\tbaz=3 ").as_deref(),
            Some("foo=1,bar=2,baz=3")
        );
        // Lines joined with commas, empty lines and members skipped.
        assert_eq!(
            parse("foo=1,bar=2,,rojo=1").as_deref(),
            Some("foo=1,bar=2,rojo=1")
        );
        assert_eq!(parse(",foo=1,").as_deref(), Some("foo=1"));
        assert_eq!(parse(""), None);
        assert_eq!(parse(" , "), None);
        // A repeated key is kept once.
        assert_eq!(parse("foo=1,foo=2").as_deref(), Some("foo=1"));
    }

    #[test]
    fn keys_and_values_follow_the_grammar() {
        let value = "value with spaces and !\"#$%&'()*+-./:;<>?[]^_`{|}~";
        for key in ["a", "0a", "a_-*/b", "foo@bar", "foo@", "foo@@bar", "t@v"] {
            let member = format!("{key}={value}");
            assert_eq!(parse(&member), Some(member.clone()), "{key}");
        }
        let longest = format!("{}=1", "z".repeat(256));
        assert_eq!(parse(&longest), Some(longest.clone()));
        for invalid in [
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "@foo=1,bar=2",
            "_foo=1",
            "foo=bar=baz",
            "foo=,bar=3",
            "foo",
            "foo=1 x\u{e9}",
            &format!("{}=1", "z".repeat(257)),
            &format!("foo={}", "v".repeat(257)),
        ] {
            assert_eq!(parse(invalid), None, "{invalid:?}");
        }
        // A trailing space belongs to the separator, not the value.
        assert_eq!(parse("foo=1 ").as_deref(), Some("foo=1"));
    }

    #[test]
    fn more_than_32_members_are_invalid() {
        let members = |n: usize| {
            (1..=n)
                .map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(parse(&members(32)), Some(members(32)));
        assert_eq!(parse(&members(33)), None);
    }

    #[test]
    fn lists_over_512_bytes_lose_long_members_then_the_last() {
        let long = |name: &str| format!("{name}={}", "l".repeat(200));
        let short = |i: usize| format!("k{i:02}={}", "s".repeat(20));
        // Ten short members (24 bytes) and three long ones (over 200): 662
        // bytes. The last long one goes, then the middle one; the first
        // long one fits.
        let mut list: Vec<String> = (0..10).map(short).collect();
        list.insert(1, long("first"));
        list.insert(5, long("middle"));
        list.push(long("last"));
        let cut = parse(&list.join(",")).unwrap();
        list.retain(|member| !member.starts_with("middle") && !member.starts_with("last"));
        assert_eq!(cut, list.join(","));

        // Short members only: the last ones go.
        let many: Vec<String> = (0..30).map(short).collect();
        let cut = parse(&many.join(",")).unwrap();
        assert!(cut.len() <= 512, "{}", cut.len());
        assert!(many.join(",").starts_with(&cut));
        assert_eq!(cut.split(',').count(), 20, "{cut}");
    }
}
