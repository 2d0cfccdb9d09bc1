//! The payload every benchmark sends: an order, about 300 bytes of JSON.

use serde::Serialize;

/// A typical domain payload: nested objects, strings, numbers, an array.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: u64,
    pub customer_id: &'static str,
    pub email: &'static str,
    pub status: &'static str,
    pub items: [Item; 3],
    pub total_cents: u64,
    pub currency: &'static str,
    pub shipping: Address,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub sku: &'static str,
    pub quantity: u32,
    pub price_cents: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Address {
    pub city: &'static str,
    pub postcode: &'static str,
    pub country: &'static str,
}

impl Order {
    pub fn new(id: u64) -> Self {
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
