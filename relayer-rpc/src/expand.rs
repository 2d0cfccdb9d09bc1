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
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    AttrStyle, Attribute, Block, Expr, ExprAsync, ExprCall, ImplItem, Item, ItemFn, ItemImpl,
    ReturnType, Signature, Stmt, Type, Visibility,
};

use crate::args::Args;
use crate::inject;

const NOT_A_FUNCTION: &str =
    "`#[relayed]` applies to functions and methods with a body, and to impl blocks";

/// Expands `#[relayed(args)] item`. Errors are in the output, as
/// `compile_error!`s at their own spans, next to the item, so that each
/// mistake is reported once, where it is:
///
/// - arguments that do not parse: their error, and the item expanded with
///   no arguments (its signature is the one callers expect);
/// - a function whose body does not parse: the function expanded around
///   its body as written, where the compiler reports the body's error
///   (as `#[tracing::instrument]` does);
/// - anything else: the error, and the item as written.
pub(crate) fn expand(args: TokenStream, item: &TokenStream) -> TokenStream {
    let (parsed, args_error) = match syn::parse2::<Args>(args.clone()) {
        Ok(parsed) => (parsed, None),
        Err(error) => (Args::default(), Some(error.to_compile_error())),
    };
    let args = if args_error.is_some() {
        TokenStream::new()
    } else {
        args
    };
    let expanded = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => expand_fn(&parsed, Function::parsed(function)),
        Ok(Item::Impl(block)) => expand_impl(&parsed, &args, block),
        Ok(other) => Err(syn::Error::new(item_span(&other), NOT_A_FUNCTION)),
        Err(error) => match syn::parse2::<Function>(item.clone()) {
            Ok(function) => expand_fn(&parsed, function),
            Err(_) => Err(error),
        },
    };
    match expanded {
        Ok(expanded) => quote!(#args_error #expanded),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#args_error #error #item)
        }
    }
}

/// A function: its attributes, visibility and signature, and its body,
/// parsed when it parses, else as written.
struct Function {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    body: Body,
}

enum Body {
    Parsed(Box<Block>),
    Unparsed(TokenStream),
}

impl Function {
    fn parsed(function: ItemFn) -> Self {
        Self {
            attrs: function.attrs,
            vis: function.vis,
            sig: function.sig,
            body: Body::Parsed(function.block),
        }
    }

    /// The statements of the body, when it parsed.
    fn stmts(&self) -> Option<&[Stmt]> {
        match &self.body {
            Body::Parsed(block) => Some(&block.stmts),
            Body::Unparsed(_) => None,
        }
    }
}

/// A function whose body is kept as written: `{ ... }` as one group.
impl Parse for Function {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(body.span(), "expected a function body"));
        }
        Ok(Self {
            attrs,
            vis,
            sig,
            body: Body::Unparsed(body.into_token_stream()),
        })
    }
}

impl ToTokens for Body {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Self::Parsed(block) => block.to_tokens(tokens),
            Self::Unparsed(group) => group.to_tokens(tokens),
        }
    }
}

/// `#[relayed(args)] impl ...`: every method with a body gets
/// `#[relayed(args)]`, unless it has a `#[relayed]` of its own. Works before
/// and after `#[async_trait]`, whose output is handled by [`expand_fn`].
fn expand_impl(args: &Args, tokens: &TokenStream, mut block: ItemImpl) -> syn::Result<TokenStream> {
    let krate = args.krate();
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
                .push(syn::parse_quote!(#[#krate::relayed(#tokens)]));
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
fn expand_fn(args: &Args, mut function: Function) -> syn::Result<TokenStream> {
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "`#[relayed]` cannot wrap a `const fn`: recording a call runs at run time",
        ));
    }
    let krate = args.krate();
    let injected = inject::take_relayer_param(&mut function.sig, args.crate_name().as_deref())?;
    if let (Some(with), Some(param)) = (&args.with, &injected) {
        inject::check_with(with, param)?;
    }

    let call = Ident::new("__relayer_call", Span::mixed_site());
    let init = open_call(args, &function.sig);
    let bind = injected.map(|param| inject::bind(&param, &call.to_token_stream()));
    let body = if function.sig.asyncness.is_some() {
        async_fn_body(&function, &call, &krate)
    } else if let Some(body) = future_returning_body(&function, &call, &krate) {
        body
    } else {
        sync_body(&function, &call, &krate)
    };

    let Function {
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
    let krate = args.krate();
    let fn_name = sig.ident.to_string();
    let service = match &args.name {
        Some(name) => name.to_token_stream(),
        None if is_method(sig) => quote! {
            #krate::rpc::__private::method_name(::core::any::type_name::<Self>(), #fn_name)
        },
        None => fn_name.to_token_stream(),
    };
    match &args.with {
        Some(with) => {
            let with = borrowed(with);
            quote!(#krate::rpc::__private::call_with(#with, #service))
        }
        None => quote!(#krate::rpc::Call::current(#service)),
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
fn async_fn_body(function: &Function, call: &Ident, krate: &TokenStream) -> TokenStream {
    let out = Ident::new("__relayer_out", Span::mixed_site());
    let fake_return = fake_return(&function.sig);
    let block = &function.body;
    let finish = finish(call, &out, krate);
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
fn future_returning_body(
    function: &Function,
    call: &Ident,
    krate: &TokenStream,
) -> Option<TokenStream> {
    let (tail, before) = function.stmts()?.split_last()?;
    let Stmt::Expr(tail, None) = tail else {
        return None;
    };
    let out = Ident::new("__relayer_out", Span::mixed_site());
    let finish = finish(call, &out, krate);
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
fn sync_body(function: &Function, call: &Ident, krate: &TokenStream) -> TokenStream {
    let out = Ident::new("__relayer_out", Span::mixed_site());
    let fake_return = fake_return(&function.sig);
    let block = &function.body;
    let finish = finish(call, &out, krate);
    quote! {
        let #out = #call.in_scope(move || { #fake_return #block });
        #finish
        #out
    }
}

/// Finishes the call with the outcome read from the returned value: `error`
/// for `Err` (with its text), else `ok`. Panics and cancellation are the
/// call's `Drop`.
fn finish(call: &Ident, out: &Ident, krate: &TokenStream) -> TokenStream {
    let ended = Ident::new("__relayer_ended", Span::mixed_site());
    quote! {
        #[allow(clippy::needless_borrow)]
        let #ended = {
            #[allow(unused_imports)]
            use #krate::rpc::__private::{ErrDebug as _, ErrDisplay as _, ErrOpaque as _, Value as _};
            (&&&&#krate::rpc::__private::Returned(&#out)).__relayer_ended()
        };
        #krate::rpc::__private::finish(#call, #ended);
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
