//! The payload every benchmark sends: an order, about 300 bytes of JSON.

use serde::Serialize;

/// A typical domain payload: nested objects, strings, numbers, an array.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) customer_id: &'static str,
    pub(crate) email: &'static str,
    pub(crate) status: &'static str,
    pub(crate) items: [Item; 3],
    pub(crate) total_cents: u64,
    pub(crate) currency: &'static str,
    pub(crate) shipping: Address,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Item {
    pub(crate) sku: &'static str,
    pub(crate) quantity: u32,
    pub(crate) price_cents: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Address {
    pub(crate) city: &'static str,
    pub(crate) postcode: &'static str,
    pub(crate) country: &'static str,
}

impl Order {
    pub(crate) fn new(id: u64) -> Self {
        Self {
            id,
            customer_id: "c0a8012e-7d4b-4f0e-9a51-3c2f6b1d9e77",
            email: "ada.lovelace@example.com",
            status: "confirmed",
            items: [
                Item {
                    sku: "BOOK-0001",
                    quantity: 1,
                    price_cents: 2_999,
                },
                Item {
                    sku: "PEN-0042",
                    quantity: 3,
                    price_cents: 450,
                },
                Item {
                    sku: "MUG-0007",
                    quantity: 2,
                    price_cents: 1_250,
                },
            ],
            total_cents: 6_849,
            currency: "EUR",
            shipping: Address {
                city: "London",
                postcode: "NW1 6XE",
                country: "GB",
            },
        }
    }
}
