//! The injected parameter: `relayer: Relayer` in the signature becomes a
//! local bound to the call's relayer, so the wrapped function keeps the
//! signature of the trait method it implements.

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Expr, FnArg, Pat, PatType, Signature, Token, Type, TypePath};

/// Removes the `Relayer` parameter from `sig`, if there is one, and returns
/// it. Two of them are an error. `krate` is the name given with
/// `crate = ...`, under which the type may also be written.
pub(crate) fn take_relayer_param(
    sig: &mut Signature,
    krate: Option<&str>,
) -> syn::Result<Option<PatType>> {
    let mut found: Option<PatType> = None;
    let mut kept = Punctuated::<FnArg, Token![,]>::new();
    for arg in std::mem::take(&mut sig.inputs) {
        match arg {
            FnArg::Typed(param) if is_relayer(&param.ty, krate) => {
                if found.is_some() {
                    return Err(syn::Error::new_spanned(
                        &param,
                        "`#[relayed]` injects one `Relayer` parameter; remove this one \
                         (clone the other if you need two handles)",
                    ));
                }
                found = Some(param);
            }
            arg => kept.push(arg),
        }
    }
    sig.inputs = kept;
    Ok(found)
}

/// `let <pattern>: <type> = <the call's relayer>;`
pub(crate) fn bind(param: &PatType, call: &TokenStream) -> TokenStream {
    let PatType { attrs, pat, ty, .. } = param;
    quote! {
        #(#attrs)*
        let #pat: #ty = ::core::clone::Clone::clone(#call.relayer());
    }
}

/// `with = relayer` where `relayer` is the injected parameter: it is gone
/// from the signature, so the caller cannot give it.
pub(crate) fn check_with(with: &Expr, param: &PatType) -> syn::Result<()> {
    let (Expr::Path(path), Pat::Ident(pat)) = (with, &*param.pat) else {
        return Ok(());
    };
    if path.qself.is_none() && path.path.is_ident(&pat.ident) {
        return Err(syn::Error::new_spanned(
            with,
            format!(
                "`{0}` is the injected parameter: `#[relayed]` removes it from the signature \
                 and binds it to the call's relayer; to record with a relayer the caller \
                 gives, take it as `{0}: &Relayer`",
                pat.ident
            ),
        ));
    }
    Ok(())
}

/// `Relayer`, `relayer::Relayer` or `::relayer::Relayer`, or the same
/// under the name given with `crate = ...`.
fn is_relayer(ty: &Type, krate: Option<&str>) -> bool {
    let path = match ty {
        Type::Path(TypePath { qself: None, path }) => path,
        // a type passed through a `macro_rules!` fragment
        Type::Group(group) => return is_relayer(&group.elem, krate),
        _ => return false,
    };
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| {
            if segment.arguments.is_empty() {
                segment.ident.to_string()
            } else {
                String::new()
            }
        })
        .collect();
    match segments.as_slice() {
        [name] => path.leading_colon.is_none() && name == "Relayer",
        [first, name] => (first == "relayer" || Some(first.as_str()) == krate) && name == "Relayer",
        _ => false,
    }
}
