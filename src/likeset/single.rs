//! The `single` encoding: one like of an ID below 2^32, with at most one
//! recent add. Small enough to live in the Redis value pointer itself (see
//! `redis::value`), so a one-like key allocates nothing beyond Redis's own
//! wrapper: the same as a one-member SET.

use super::activity::{Activity, ActivityRef};
use super::{Encoding, Form, Stored, StoredForm};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Single {
    pub id: u32,
    /// Minute-stripe of the like's add when that counts as recent activity, else 0.
    pub stripe: u32,
}

impl Single {
    /// Largest minute-stripe a single like records: 29 bits, so that the ID
    /// and the stripe fit a stored word (10-second stripes until the year 2140;
    /// later, a one-like set is packed).
    pub const STRIPE_MAX: u32 = (1 << 29) - 1;

    /// One like with `activity`, or None when this form cannot hold them.
    pub fn new(id: u64, activity: &Activity) -> Option<Single> {
        let id = u32::try_from(id).ok()?;
        let stripe = stripe_of(activity)?;
        Some(Single { id, stripe })
    }
}

impl Stored for Single {
    fn into_stored(self) -> StoredForm {
        StoredForm::Bits((u64::from(self.stripe) << 32) | u64::from(self.id))
    }

    unsafe fn from_stored(stored: StoredForm) -> Option<Single> {
        let StoredForm::Bits(bits) = stored else { return None };
        let stripe = u32::try_from(bits >> 32).ok().filter(|&s| s <= Single::STRIPE_MAX)?;
        Some(Single { id: bits as u32, stripe })
    }
}

/// The stripe a single like can record for `activity`: none (0), or one add.
fn stripe_of(activity: &Activity) -> Option<u32> {
    match *activity {
        Activity::Inline { count: 0, .. } => Some(0),
        Activity::Inline { stripe, count: 1 } if (1..=Single::STRIPE_MAX).contains(&stripe) => {
            Some(stripe)
        }
        _ => None,
    }
}

impl Form for Single {
    fn encoding(&self) -> Encoding {
        Encoding::Single
    }

    fn len(&self) -> u64 {
        1
    }

    fn contains(&self, id: u64) -> bool {
        u64::from(self.id) == id
    }

    fn insert(&mut self, id: u64) -> Option<bool> {
        // A second ID needs another form.
        self.contains(id).then_some(false)
    }

    /// True when `id` is the one like: the policy then empties the set
    /// (this form cannot hold zero likes).
    fn remove(&mut self, id: u64) -> bool {
        self.contains(id)
    }

    fn visit_from(&self, from: u64, f: &mut dyn FnMut(u64) -> std::ops::ControlFlow<()>) {
        if u64::from(self.id) >= from {
            let _ = f(u64::from(self.id));
        }
    }

    fn activity(&self) -> ActivityRef<'_> {
        ActivityRef::Inline { stripe: self.stripe, count: u32::from(self.stripe != 0) }
    }

    fn set_activity(&mut self, activity: Activity) -> Result<(), Activity> {
        match stripe_of(&activity) {
            Some(stripe) => {
                self.stripe = stripe;
                Ok(())
            }
            None => Err(activity),
        }
    }

    fn take_activity(&mut self) -> Activity {
        let a = self.activity().to_owned();
        self.stripe = 0;
        a
    }

    fn heap_bytes(&self) -> usize {
        0
    }
}
