//! The arguments of `#[relayed(...)]`: `name = "..."` and `with = <expr>`.

use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Token};

/// What `#[relayed(...)]` was given.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "Greeter.SayHello"`: the service name of the records.
    pub(crate) name: Option<LitStr>,
    /// `with = self.relayer`: the relayer to record with.
    pub(crate) with: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            match key.to_string().as_str() {
                "name" => {
                    if args.name.is_some() {
                        return Err(syn::Error::new(key.span(), "`name` is given twice"));
                    }
                    input.parse::<Token![=]>()?;
                    args.name = Some(input.parse().map_err(|error| {
                        syn::Error::new(
                            error.span(),
                            "`name` takes a string literal, e.g. `name = \"Greeter.SayHello\"`",
                        )
                    })?);
                }
                "with" => {
                    if args.with.is_some() {
                        return Err(syn::Error::new(key.span(), "`with` is given twice"));
                    }
                    input.parse::<Token![=]>()?;
                    args.with = Some(input.parse()?);
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{key}`: `#[relayed]` takes \
                             `name = \"...\"` and `with = <relayer expression>`"
                        ),
                    ));
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}
