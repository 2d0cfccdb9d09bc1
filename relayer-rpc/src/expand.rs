//! The code `#[relayed]` generates around a function.
//!
//! Every shape comes down to the same steps, around the function's own code:
//! open a `relayer::rpc::Call`, bind the injected parameter, run the body
//! with the call's relayer as the current one, and finish the call with the
//! outcome read from the returned value. The runtime logic (scopes,
//! panics, cancellation, the record) lives in `relayer::rpc`; this only
//! places the calls.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    AttrStyle, Attribute, Expr, ExprAsync, ExprCall, ImplItem, Item, ItemFn, ItemImpl, ReturnType,
    Signature, Stmt, Type,
};

use crate::args::Args;
use crate::inject;

const NOT_A_FUNCTION: &str =
    "`#[relayed]` applies to functions and methods with a body, and to impl blocks";

/// Expands `#[relayed(args)] item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let parsed: Args = syn::parse2(args.clone())?;
    match syn::parse2::<Item>(item) {
        Ok(Item::Fn(function)) => expand_fn(parsed, function),
        Ok(Item::Impl(block)) => expand_impl(&parsed, args, block),
        Ok(other) => Err(syn::Error::new(item_span(&other), NOT_A_FUNCTION)),
        Err(_) => Err(syn::Error::new(Span::call_site(), NOT_A_FUNCTION)),
    }
}

/// `#[relayed(args)] impl ...`: every method with a body gets
/// `#[relayed(args)]`, unless it has a `#[relayed]` of its own. Works before
/// and after `#[async_trait]`, whose output is handled by [`expand_fn`].
fn expand_impl(args: &Args, tokens: TokenStream, mut block: ItemImpl) -> syn::Result<TokenStream> {
    if let Some(name) = &args.name {
        return Err(syn::Error::new(
            name.span(),
            "`name` names one method: put `#[relayed(name = ...)]` on the method",
        ));
    }
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        if !method.attrs.iter().any(is_relayed) {
            method
                .attrs
                .push(syn::parse_quote!(#[::relayer::relayed(#tokens)]));
        }
    }
    Ok(block.into_token_stream())
}

/// `#[relayed]`, `#[relayer::relayed]`, `#[relayer_rpc::relayed]`, ...
fn is_relayed(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "relayed")
}

/// `#[relayed(args)] fn ...`
fn expand_fn(args: Args, mut function: ItemFn) -> syn::Result<TokenStream> {
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "`#[relayed]` cannot wrap a `const fn`: recording a call runs at run time",
        ));
    }
    let injected = inject::take_relayer_param(&mut function.sig)?;
    if let (Some(with), Some(param)) = (&args.with, &injected) {
        inject::check_with(with, param)?;
    }

    let call = Ident::new("__relayer_call", Span::mixed_site());
    let init = open_call(&args, &function.sig);
    let bind = injected.map(|param| inject::bind(&param, &call.to_token_stream()));
    let body = if function.sig.asyncness.is_some() {
        async_fn_body(&function, &call)
    } else if let Some(body) = future_returning_body(&function, &call) {
        body
    } else {
        sync_body(&function, &call)
    };

    let ItemFn {
        attrs, vis, sig, ..
    } = &function;
    let outer = attrs.iter().filter(|a| matches!(a.style, AttrStyle::Outer));
    let inner = attrs
        .iter()
        .filter(|a| matches!(a.style, AttrStyle::Inner(_)));
    Ok(quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            let #call = #init;
            #bind
            #body
        }
    })
}

/// Opens the call: with the `with` relayer, else the current one.
fn open_call(args: &Args, sig: &Signature) -> TokenStream {
    let fn_name = sig.ident.to_string();
    let service = match &args.name {
        Some(name) => name.to_token_stream(),
        None if is_method(sig) => quote! {
            ::relayer::rpc::__private::method_name(::core::any::type_name::<Self>(), #fn_name)
        },
        None => fn_name.to_token_stream(),
    };
    match &args.with {
        Some(with) => {
            let with = borrowed(with);
            quote!(::relayer::rpc::__private::call_with(#with, #service))
        }
        None => quote!(::relayer::rpc::Call::current(#service)),
    }
}

/// `&(<expr>)`, spanned so that a type error points at the whole
/// expression: `&` at its first token, the parentheses at its last.
fn borrowed(expr: &Expr) -> TokenStream {
    let tokens = expr.to_token_stream();
    let first = tokens.clone().into_iter().next().map(|t| t.span());
    let last = tokens.clone().into_iter().last().map(|t| t.span());
    let first = first.unwrap_or_else(Span::call_site);
    let mut parenthesized = Group::new(Delimiter::Parenthesis, tokens);
    parenthesized.set_span(last.unwrap_or(first));
    quote_spanned!(first=> & #parenthesized)
}

/// `async fn`: the body becomes an `async move` block run inside the call.
fn async_fn_body(function: &ItemFn, call: &Ident) -> TokenStream {
    let out = Ident::new("__relayer_out", Span::mixed_site());
    let fake_return = fake_return(&function.sig);
    let block = &function.block;
    let finish = finish(call, &out);
    quote! {
        let #out = #call.bind(async move { #fake_return #block }).await;
        #finish
        #out
    }
}

/// A plain `fn` whose body ends with a future, as `#[async_trait]` writes
/// them: `Box::pin(async move { ... })`, or an `async move { ... }` block.
/// The future is what runs inside the call, like `#[tracing::instrument]`
/// does it.
fn future_returning_body(function: &ItemFn, call: &Ident) -> Option<TokenStream> {
    let (tail, before) = function.block.stmts.split_last()?;
    let Stmt::Expr(tail, None) = tail else {
        return None;
    };
    let out = Ident::new("__relayer_out", Span::mixed_site());
    let finish = finish(call, &out);
    let wrap = |future: &ExprAsync| {
        quote! {
            async move {
                let #out = #call.bind(#future).await;
                #finish
                #out
            }
        }
    };
    let tail = match tail {
        Expr::Async(future) => wrap(future),
        Expr::Call(ExprCall { func, args, .. }) if is_box_pin(func) && args.len() == 1 => {
            let Some(Expr::Async(future)) = args.first() else {
                return None;
            };
            let wrapped = wrap(future);
            quote!(#func(#wrapped))
        }
        _ => return None,
    };
    Some(quote! {
        #(#before)*
        #tail
    })
}

/// A plain `fn`: the body becomes a closure run inside the call.
fn sync_body(function: &ItemFn, call: &Ident) -> TokenStream {
    let out = Ident::new("__relayer_out", Span::mixed_site());
    let fake_return = fake_return(&function.sig);
    let block = &function.block;
    let finish = finish(call, &out);
    quote! {
        let #out = #call.in_scope(move || { #fake_return #block });
        #finish
        #out
    }
}

/// Finishes the call with the outcome read from the returned value: `error`
/// for `Err` (with its text), else `ok`. Panics and cancellation are the
/// call's `Drop`.
fn finish(call: &Ident, out: &Ident) -> TokenStream {
    let ended = Ident::new("__relayer_ended", Span::mixed_site());
    quote! {
        #[allow(clippy::needless_borrow)]
        let #ended = {
            #[allow(unused_imports)]
            use ::relayer::rpc::__private::{ErrDebug as _, ErrDisplay as _, ErrOpaque as _, Value as _};
            (&&&&::relayer::rpc::__private::Returned(&#out)).__relayer_ended()
        };
        ::relayer::rpc::__private::finish(#call, #ended);
    }
}

/// An unreachable `return` of the declared type, so that `?` and `return`
/// in the body infer the right type inside the closure or async block
/// (the trick of `#[tracing::instrument]`).
fn fake_return(sig: &Signature) -> TokenStream {
    let (ty, span) = match &sig.output {
        ReturnType::Type(_, ty) => (erase_impl_trait(ty), ty.span()),
        ReturnType::Default => (syn::parse_quote!(()), sig.ident.span()),
    };
    let fake = Ident::new("__relayer_fake_return", Span::mixed_site());
    quote_spanned! {span=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let #fake: #ty = loop {};
            return #fake;
        }
    }
}

/// A method (it can name `Self`): it has a receiver, or its signature
/// mentions `Self`. Associated functions that do neither are named like
/// free functions; give them `name = ...`.
fn is_method(sig: &Signature) -> bool {
    fn mentions_self(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "Self",
            TokenTree::Group(group) => mentions_self(group.stream()),
            _ => false,
        })
    }
    sig.receiver().is_some()
        || mentions_self(sig.inputs.to_token_stream())
        || mentions_self(sig.output.to_token_stream())
        || mentions_self(sig.generics.to_token_stream())
        || mentions_self(sig.generics.where_clause.to_token_stream())
}

fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else {
        return false;
    };
    let segments: Vec<_> = path.path.segments.iter().map(|s| &s.ident).collect();
    matches!(segments.as_slice(), [.., boxed, pin] if *boxed == "Box" && *pin == "pin")
}

/// Where to point an error about a whole item: its first token.
fn item_span(item: &Item) -> Span {
    item.to_token_stream()
        .into_iter()
        .find(|token| {
            !matches!(token, TokenTree::Punct(_)) && !matches!(token, TokenTree::Group(_))
        })
        .map_or_else(Span::call_site, |token| token.span())
}

/// `impl Trait` becomes `_`, so the type can annotate a `let`.
fn erase_impl_trait(ty: &Type) -> Type {
    struct Eraser;
    impl VisitMut for Eraser {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](impl_trait.span()),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Eraser.visit_type_mut(&mut ty);
    ty
}
