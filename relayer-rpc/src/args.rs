//! The arguments of `#[relayed(...)]`: `name = "..."`, `with = <expr>` and
//! `crate = <path>`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Path, Token};

/// What `#[relayed(...)]` was given.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "Greeter.SayHello"`: the service name of the records.
    pub(crate) name: Option<LitStr>,
    /// `with = self.relayer`: the relayer to record with.
    pub(crate) with: Option<Expr>,
    /// `crate = my_relayer`: the path of the relayer crate, for users who
    /// renamed the dependency or re-export it.
    pub(crate) krate: Option<Path>,
}

impl Args {
    /// The path the generated code names relayer by: `::relayer` unless
    /// `crate = ...` says otherwise.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::relayer),
        }
    }

    /// The last segment of `crate = ...`, under which the injected
    /// parameter's type may be written (`my_relayer::Relayer`).
    pub(crate) fn crate_name(&self) -> Option<String> {
        let path = self.krate.as_ref()?;
        path.segments
            .last()
            .map(|segment| segment.ident.to_string())
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Self::default();
        while !input.is_empty() {
            // `crate` is a keyword: parse any identifier.
            let key = Ident::parse_any(input)?;
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
                "crate" => {
                    if args.krate.is_some() {
                        return Err(syn::Error::new(key.span(), "`crate` is given twice"));
                    }
                    input.parse::<Token![=]>()?;
                    args.krate = Some(input.call(Path::parse_mod_style).map_err(|error| {
                        syn::Error::new(
                            error.span(),
                            "`crate` takes the path of the relayer crate, e.g. `crate = my_relayer`",
                        )
                    })?);
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{key}`: `#[relayed]` takes `name = \"...\"`, \
                             `with = <relayer expression>` and `crate = <path>`"
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
