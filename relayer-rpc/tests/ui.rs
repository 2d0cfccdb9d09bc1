//! Compile errors of `#[relayed]`: each says what is wrong, where.
//!
//! The expected messages are in `tests/ui/*.stderr`; after a deliberate
//! change, regenerate them with `TRYBUILD=overwrite cargo test -p relayer-rpc --test ui`
//! and review the diff.

#[test]
fn misuses_are_clear_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
