//! `RefCell` without `#[track_caller]`: the std type records the source location of every
//! `borrow`/`borrow_mut`/`replace` call for the panic message of a double borrow — 16 bytes of
//! data each, plus the file's name, in the shipped wasm. With `panic = "abort"` and no panic hook
//! in the page that message is never shown, so every call here shares one location.

use std::cell::{Ref, RefMut};

/// A `std::cell::RefCell` whose borrows all report this module's location on a double borrow.
#[derive(Debug, Default)]
pub struct RefCell<T>(std::cell::RefCell<T>);

impl<T> RefCell<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        Self(std::cell::RefCell::new(value))
    }

    /// `std::cell::RefCell::borrow`.
    #[inline]
    pub fn borrow(&self) -> Ref<'_, T> {
        self.0.borrow()
    }

    /// `std::cell::RefCell::borrow_mut`.
    #[inline]
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        self.0.borrow_mut()
    }

    /// `std::cell::RefCell::try_borrow_mut`.
    #[inline]
    pub fn try_borrow_mut(&self) -> Result<RefMut<'_, T>, std::cell::BorrowMutError> {
        self.0.try_borrow_mut()
    }

    /// `std::cell::RefCell::replace`.
    #[inline]
    pub fn replace(&self, value: T) -> T {
        std::mem::replace(&mut *self.borrow_mut(), value)
    }
}
