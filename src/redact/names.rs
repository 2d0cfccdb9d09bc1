//! The one rule that tells a secret name (a header, a query parameter, a
//! JSON key) from another, the way scrubbers match them: by what the
//! normalized name contains.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Stems that make a name secret wherever they appear in its normalized
/// form (`oauth_token`, `X-Auth-Token`, `newPassword`, `client_secret`).
///
/// ```
/// assert!(relayer::DEFAULT_SECRET_STEMS.contains(&"password"));
/// ```
pub const DEFAULT_SECRET_STEMS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "auth",
    "credential",
    "session",
    "sessid",
    "cookie",
    "csrf",
    "xsrf",
    "signature",
    "jwt",
    "bearer",
    "cardnumber",
    "creditcard",
    "cvv",
    "cvc",
    "iban",
];

/// Short stems that would be found inside ordinary words (`ssn` in
/// `business_name`, `sid` in `inside`, `key` in `monkey`): they make a
/// name secret only as one of its words (`ssn`, `user_ssn`, `userSSN`,
/// `connect.sid`, `sig`, `api-key`).
///
/// ```
/// assert!(relayer::DEFAULT_SECRET_WORDS.contains(&"ssn"));
/// ```
pub const DEFAULT_SECRET_WORDS: &[&str] = &["ssn", "sid", "sig", "pass", "key", "pin", "otp"];

/// Normalized names this long or shorter are normalized on the stack.
const STACK_NAME: usize = 64;

/// Which bytes start a stem: most positions of a name are passed over
/// with one look-up.
const STEM_STARTS: [bool; 256] = {
    let mut starts = [false; 256];
    let mut index = 0;
    while index < DEFAULT_SECRET_STEMS.len() {
        starts[DEFAULT_SECRET_STEMS[index].as_bytes()[0] as usize] = true;
        index += 1;
    }
    starts
};

/// The rule for secret names: the name is normalized (lowercase, every
/// ASCII character other than a letter or a digit removed, so `_`, `-`,
/// `.` and spaces go), and it is secret when
///
/// - it is one of the names [added](Self::redact), else
/// - it is not one of the names [kept](Self::keep), and its normalized
///   form contains one of the [`DEFAULT_SECRET_STEMS`] or one of its
///   words is one of the [`DEFAULT_SECRET_WORDS`] (words are split at
///   separators, at a lower-case letter followed by an upper-case one,
///   and between letters and digits).
///
/// Added and kept names are compared normalized too: keeping
/// `token_count` keeps `tokenCount` and `Token-Count`. Cheap to clone.
///
/// ```
/// use relayer::SecretNames;
///
/// let names = SecretNames::default();
/// for secret in ["password", "newPassword", "X-Auth-Token", "client_secret", "apiKey", "user_ssn", "sig"] {
///     assert!(names.is_secret(secret), "{secret}");
/// }
/// for plain in ["user", "page", "business_name", "design", "monkey"] {
///     assert!(!names.is_secret(plain), "{plain}");
/// }
///
/// let names = names.keep("token_count").redact("pin_hint");
/// assert!(!names.is_secret("tokenCount"));
/// assert!(names.is_secret("PinHint") && names.is_secret("access_token"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretNames {
    /// Normalized; always secret.
    added: Arc<[Box<str>]>,
    /// Normalized; not secret unless added.
    kept: Arc<[Box<str>]>,
}

impl SecretNames {
    /// These names, and `name` as a secret one, even if it was kept.
    #[must_use]
    pub fn redact(&self, name: &str) -> Self {
        Self {
            added: with(&self.added, name),
            kept: self.kept.clone(),
        }
    }

    /// These names, and `name` as one that is not secret, though a
    /// default stem or word is in it (`token_count`, `author`), unless it
    /// was [added](Self::redact).
    #[must_use]
    pub fn keep(&self, name: &str) -> Self {
        Self {
            added: self.added.clone(),
            kept: with(&self.kept, name),
        }
    }

    /// Whether the value under `name` is a secret. `name` as its sender
    /// meant it: a query parameter's name percent-decoded, a JSON key
    /// unescaped.
    pub fn is_secret(&self, name: &str) -> bool {
        let mut stack = [0; STACK_NAME];
        let normalized = normalize(name, &mut stack);
        let normalized = normalized.as_bytes();
        if self
            .added
            .iter()
            .any(|added| added.as_bytes() == normalized)
        {
            return true;
        }
        if self.kept.iter().any(|kept| kept.as_bytes() == normalized) {
            return false;
        }
        has_stem(normalized) || has_secret_word(name)
    }
}

impl fmt::Debug for SecretNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretNames")
            .field("added", &self.added)
            .field("kept", &self.kept)
            .finish()
    }
}

fn with(names: &[Box<str>], name: &str) -> Arc<[Box<str>]> {
    let name: Box<str> = normalize(name, &mut [0; STACK_NAME]).as_ref().into();
    let mut names = names.to_vec();
    if !names.contains(&name) {
        names.push(name);
    }
    names.into()
}

/// `name` in lower case without the ASCII characters that are neither
/// letters nor digits: on the stack when it is short ASCII (the common
/// case), else on the heap.
fn normalize<'s>(name: &str, stack: &'s mut [u8; STACK_NAME]) -> Cow<'s, str> {
    let mut len = 0;
    for &byte in name.as_bytes() {
        if !byte.is_ascii() || (byte.is_ascii_alphanumeric() && len == STACK_NAME) {
            return Cow::Owned(normalize_slowly(name));
        }
        if byte.is_ascii_alphanumeric() {
            stack[len] = byte.to_ascii_lowercase();
            len += 1;
        }
    }
    // Only ASCII letters and digits were copied.
    Cow::Borrowed(std::str::from_utf8(&stack[..len]).unwrap_or_default())
}

fn normalize_slowly(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_ascii() || c.is_ascii_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn has_stem(normalized: &[u8]) -> bool {
    (0..normalized.len()).any(|at| {
        STEM_STARTS[usize::from(normalized[at])]
            && DEFAULT_SECRET_STEMS
                .iter()
                .any(|stem| normalized[at..].starts_with(stem.as_bytes()))
    })
}

fn has_secret_word(name: &str) -> bool {
    words(name).any(|word| {
        DEFAULT_SECRET_WORDS
            .iter()
            .any(|secret| word.eq_ignore_ascii_case(secret.as_bytes()))
    })
}

/// The words of `name`: runs of letters and digits (any non-ASCII
/// character counts as a letter), split where a lower-case letter is
/// followed by an upper-case one and between letters and digits.
fn words(name: &str) -> impl Iterator<Item = &[u8]> {
    let bytes = name.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && is_separator(bytes[at]) {
            at += 1;
        }
        if at == bytes.len() {
            return None;
        }
        let start = at;
        at += 1;
        while at < bytes.len()
            && !is_separator(bytes[at])
            && !is_word_start(bytes[at - 1], bytes[at])
        {
            at += 1;
        }
        Some(&bytes[start..at])
    })
}

fn is_separator(byte: u8) -> bool {
    byte.is_ascii() && !byte.is_ascii_alphanumeric()
}

/// Whether a word starts at `byte`, after `before`: `userSSN`, `pin2`, `2fa`.
fn is_word_start(before: u8, byte: u8) -> bool {
    (before.is_ascii_lowercase() && byte.is_ascii_uppercase())
        || (before.is_ascii_alphabetic() && byte.is_ascii_digit())
        || (before.is_ascii_digit() && byte.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str) -> bool {
        SecretNames::default().is_secret(name)
    }

    #[test]
    fn names_scrubbers_mask_are_secret_in_every_spelling() {
        for name in [
            "password",
            "PASSWORD",
            "newPassword",
            "new_password",
            "pass-word",
            "passwd",
            "mysql_pwd",
            "access_token",
            "refresh_token",
            "id_token",
            "X-Amz-Security-Token",
            "csrfmiddlewaretoken",
            "client_secret",
            "apiKey",
            "api_key",
            "X-API-KEY",
            "x-api-key",
            "authorization",
            "Proxy-Authorization",
            "oauth_verifier",
            "x-auth-user",
            "credentials",
            "X-Amz-Credential",
            "private_key",
            "privateKey",
            "aws_secret_access_key",
            "aws_access_key_id",
            "sessionid",
            "JSESSIONID",
            "PHPSESSID",
            "connect.sid",
            "cookie",
            "set-cookie",
            "_csrf",
            "XSRF-TOKEN",
            "X-Amz-Signature",
            "X-Goog-Signature",
            "sig",
            "jwt",
            "bearer",
            "card_number",
            "cardNumber",
            "credit_card",
            "cvv",
            "cvc2",
            "ssn",
            "user_ssn",
            "userSSN",
            "SSN",
            "iban",
            "pass",
            "key",
            "pin",
            "otp",
            "Token",
            "t o k e n",
        ] {
            assert!(secret(name), "{name}");
        }
    }

    #[test]
    fn ordinary_names_are_not() {
        for name in [
            "user",
            "username",
            "page",
            "email",
            "business_name",
            "className",
            "access_number",
            "inside",
            "design",
            "signal",
            "passenger",
            "bypass",
            "compass",
            "monkey",
            "keyboard",
            "spinner",
            "hotpot",
            "count",
            "id",
            "",
            "é",
        ] {
            assert!(!secret(name), "{name}");
        }
    }

    #[test]
    fn known_false_positives_can_be_kept() {
        // `auth` in `author`, `token` in counts of tokens: masked until kept.
        for name in ["author", "max_tokens", "token_count"] {
            assert!(secret(name), "{name}");
        }
        let names = SecretNames::default()
            .keep("author")
            .keep("max-tokens")
            .keep("Token_Count");
        for name in [
            "author",
            "Author",
            "max_tokens",
            "maxTokens",
            "tokenCount",
            "TOKEN-COUNT",
        ] {
            assert!(!names.is_secret(name), "{name}");
        }
        assert!(names.is_secret("authors"), "kept names are whole names");
        assert!(names.is_secret("token"));
    }

    #[test]
    fn added_names_are_whole_names_and_win_over_kept_ones() {
        let names = SecretNames::default().redact("Zip_Code").keep("zipcode");
        assert!(names.is_secret("zipCode"));
        assert!(names.is_secret("ZIP-CODE"));
        assert!(!names.is_secret("zip"));
        assert!(!names.is_secret("zip_code_2"));
        assert_eq!(names.redact("zip-code"), names, "added once");
    }

    #[test]
    fn non_ascii_names_compare_in_lower_case() {
        let names = SecretNames::default().redact("Jéton").redact("😀");
        assert!(names.is_secret("JÉTON"));
        assert!(names.is_secret("jé-ton"));
        assert!(names.is_secret("😀"));
        assert!(secret("mot_de_passe_TOKEN_é"));
        assert!(!secret("clé"));
    }

    #[test]
    fn long_names_are_normalized_whole() {
        let long = format!("{}Password", "x".repeat(100));
        assert!(secret(&long));
        let names = SecretNames::default().keep(&format!("{}_id", "y".repeat(100)));
        assert!(!names.is_secret(&format!("{}Id", "Y".repeat(100))));
    }

    #[test]
    fn words_split_at_separators_case_and_digits() {
        let split = |name: &str| -> Vec<String> {
            words(name)
                .map(|word| String::from_utf8_lossy(word).into_owned())
                .collect()
        };
        assert_eq!(split("userSSN"), ["user", "SSN"]);
        assert_eq!(split("__connect.sid--"), ["connect", "sid"]);
        assert_eq!(split("pin2fa"), ["pin", "2", "fa"]);
        assert_eq!(split("XApiKey"), ["XApi", "Key"]);
        assert_eq!(
            split("cléSig"),
            ["cléSig"],
            "cases are told apart in ASCII only"
        );
        assert!(split("").is_empty());
    }
}
