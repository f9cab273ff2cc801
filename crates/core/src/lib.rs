//! CellTrail domain core: the identifiers, calendars, rules and words that
//! every other crate of the platform shares.
//!
//! Everything here is pure logic. Nothing touches the network, the clock or
//! the disk; the only inputs are the strings and values handed in, and the
//! data files compiled into the crate (the working-day calendar and the
//! message catalogue).
//!
//! * [`uscc`] — the Unified Social Credit Code (统一社会信用代码) of an
//!   organisation, GB 32100-2015, with the embedded GB 11714-1997
//!   organisation code.
//! * [`calendar`] — the Chinese working-day calendar built from the State
//!   Council General Office's yearly holiday notices, used for statutory
//!   deadlines counted in working days.
//! * [`workflow`] — the filing workflow of technologies/products and clinical
//!   research projects modelled on State Council Decree 818
//!   (《生物医学新技术临床研究和临床转化应用管理条例》).
//! * [`access`] — organisation types, roles and permissions in one matrix.
//! * [`i18n`] — languages (Simplified Chinese and English) and the message
//!   catalogue.
//!
//! Errors carry a stable machine code (`code()`) and named arguments
//! (`args()`); the human message for code `x` is the catalogue entry
//! `error.x`, in either language.

pub mod access;
pub mod calendar;
pub mod code128;
pub mod coldchain;
pub mod consent;
pub mod datamatrix;
pub mod e2b;
pub mod ethics;
pub mod i18n;
pub mod isbt;
pub mod isbt_products;
pub mod label;
pub mod meddra;
pub mod pdf;
pub mod rules;
pub mod safety;
pub mod totp;
pub mod trace;
pub mod uscc;
pub mod workflow;

pub use i18n::Lang;

/// A string that names none of the variants of a closed set of values
/// (a state, an action, a role …).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}: {value:?}")]
pub struct UnknownValue {
    /// What was being parsed, e.g. `project_state`.
    pub kind: &'static str,
    /// The rejected input, cut to at most 64 characters.
    pub value: String,
}

impl UnknownValue {
    pub(crate) fn new(kind: &'static str, value: &str) -> Self {
        UnknownValue {
            kind,
            value: value.chars().take(64).collect(),
        }
    }

    /// Stable error code; the message is `error.value_unknown`.
    pub fn code(&self) -> &'static str {
        "value_unknown"
    }

    /// Named arguments for the catalogue message.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        vec![
            ("kind", self.kind.to_string()),
            ("value", self.value.clone()),
        ]
    }
}

/// Implements `ALL`, `as_str`, `Display` and `FromStr` for a fieldless enum
/// from one table of variant ⇄ string pairs, so the two directions cannot
/// drift apart.
macro_rules! string_enum {
    ($ty:ident, $kind:literal, { $($variant:ident => $s:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable string form used in storage, APIs and URLs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $s),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($s => Ok($ty::$variant),)+
                    _ => Err($crate::UnknownValue::new($kind, s)),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// Picks the Chinese or the English text.
pub(crate) fn pick(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}
