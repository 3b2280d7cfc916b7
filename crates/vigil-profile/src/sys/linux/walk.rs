//! The frame-pointer walk a handler does: the interrupted instruction, then the chain of
//! saved frame pointers, every read bounded by the thread's stack.
//!
//! std is built with frame pointers, so the chain runs through std's frames even where the
//! service's own code omits them (a release build without `-C force-frame-pointers=yes`);
//! such code shows where it was interrupted and where std returns to, and frames between
//! two frame-pointer frames are skipped. The first frames are recovered when the thread
//! stopped in a prologue or epilogue (the frame pointer not yet, or no longer, its own).

use std::sync::atomic::Ordering;

use crate::state::{CaptureArea, Frames, ThreadSlot};

/// The registers a walk starts from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Registers {
    /// The interrupted instruction.
    pub(super) pc: usize,
    /// The stack pointer.
    pub(super) sp: usize,
    /// The frame pointer (`rbp`, `x29`).
    pub(super) fp: usize,
    /// The link register (`x30`): the return address of a leaf that has not saved it.
    #[cfg(target_arch = "aarch64")]
    pub(super) lr: usize,
}

/// Words in a frame record: the caller's frame pointer, then the return address.
const WORD: usize = std::mem::size_of::<usize>();

/// Appends the stack of `registers` (on `slot`'s thread) to `frames`, innermost first.
#[inline]
pub(super) fn walk(registers: &Registers, slot: &ThreadSlot, frames: &Frames) {
    // Relaxed: set at registration on this very thread, before any handler could run here.
    let stack = Stack {
        low: registers.sp.max(slot.stack_low.load(Ordering::Relaxed)),
        high: slot.stack_high.load(Ordering::Relaxed),
    };
    frames.push(registers.pc);
    if registers.sp < slot.stack_low.load(Ordering::Relaxed) || registers.sp >= stack.high {
        return; // On another stack (an alternate signal stack): only the instruction.
    }
    let fp = first_frames(registers, &stack, frames);
    follow_chain(fp, &stack, frames);
}

/// Copies the registers and the stack from `sp` up (at most the area's size, never past the
/// thread's stack) into the capture area, for DWARF unwinding after the handler returned.
pub(super) fn copy_stack(registers: &Registers, slot: &ThreadSlot, area: &CaptureArea) {
    #[cfg(target_arch = "aarch64")]
    let lr = registers.lr;
    #[cfg(not(target_arch = "aarch64"))]
    let lr = 0;
    for (cell, value) in area
        .registers
        .iter()
        .zip([registers.pc, registers.sp, registers.fp, lr])
    {
        // Relaxed: published by the area's Release store of its state.
        cell.store(value, Ordering::Relaxed);
    }
    let stack = Stack {
        low: registers.sp,
        high: slot.stack_high.load(Ordering::Relaxed),
    };
    let in_stack =
        registers.sp >= slot.stack_low.load(Ordering::Relaxed) && registers.sp < stack.high;
    let mut words = 0;
    if in_stack {
        for (index, cell) in area.stack.iter().enumerate() {
            let Some(word) = stack.read(registers.sp + index * WORD) else {
                break;
            };
            // Relaxed: as above.
            cell.store(word as u64, Ordering::Relaxed);
            words = index + 1;
        }
    }
    // Relaxed: as above.
    area.stack_words.store(words, Ordering::Relaxed);
}

/// The part of the thread's stack that is in use: `[sp, high)`, all of it mapped.
struct Stack {
    low: usize,
    high: usize,
}

impl Stack {
    /// The word at `address`, if it lies within the stack and is aligned.
    #[inline]
    fn read(&self, address: usize) -> Option<usize> {
        if address < self.low
            || address.checked_add(WORD)? > self.high
            || !address.is_multiple_of(WORD)
        {
            return None;
        }
        // SAFETY: `[low, high)` is the used part of this thread's stack, mapped and
        // readable; the thread is stopped in this handler, so nothing unmaps it meanwhile.
        Some(unsafe { std::ptr::read_volatile(address as *const usize) })
    }
}

/// Walks saved frame records from `fp` outwards while each is further out than the last.
fn follow_chain(mut fp: usize, stack: &Stack, frames: &Frames) {
    while let (Some(caller_fp), Some(return_address)) = (stack.read(fp), stack.read(fp + WORD)) {
        if return_address == 0 || !frames.push(strip(return_address)) || caller_fp <= fp {
            return;
        }
        fp = caller_fp;
    }
}

/// Handles the frames a plain chain walk would miss; returns where the chain starts.
#[cfg(target_arch = "x86_64")]
fn first_frames(registers: &Registers, stack: &Stack, frames: &Frames) -> usize {
    /// `push rbp`: the first instruction; the return address is on top of the stack.
    const PUSH_RBP: u8 = 0x55;
    /// `ret`: the frame is gone; the return address is on top of the stack.
    const RET: u8 = 0xc3;
    /// `mov rbp, rsp`: `rbp` was pushed, the return address is one word up.
    const MOV_RBP_RSP: [u8; 3] = [0x48, 0x89, 0xe5];
    let pc = registers.pc;
    // SAFETY: the thread was executing at `pc`, so its first byte is mapped code.
    let first = unsafe { std::ptr::read_volatile(pc as *const u8) };
    let return_slot = match first {
        PUSH_RBP | RET => Some(registers.sp),
        // Read the two more bytes only if they are on the same page as the first.
        byte if byte == MOV_RBP_RSP[0] && pc % 4096 <= 4093 => {
            // SAFETY: `pc + 1` and `pc + 2` are on the same (mapped) page as `pc`.
            let rest = unsafe {
                [
                    std::ptr::read_volatile((pc + 1) as *const u8),
                    std::ptr::read_volatile((pc + 2) as *const u8),
                ]
            };
            (rest == [MOV_RBP_RSP[1], MOV_RBP_RSP[2]]).then_some(registers.sp + WORD)
        }
        _ => None,
    };
    if let Some(return_address) = return_slot.and_then(|slot| stack.read(slot)) {
        frames.push(return_address);
    }
    // In all three cases `rbp` still (or again) holds the caller's frame pointer.
    registers.fp
}

/// Handles the frames a plain chain walk would miss; returns where the chain starts.
#[cfg(target_arch = "aarch64")]
fn first_frames(registers: &Registers, stack: &Stack, frames: &Frames) -> usize {
    // A leaf (or a function before it saved `x30`) returns through `lr`, which the frame
    // record at `fp` does not hold yet: add it unless the record already says the same.
    let saved = stack.read(registers.fp + WORD).map(strip);
    let lr = strip(registers.lr);
    if lr != 0 && saved != Some(lr) {
        frames.push(lr);
    }
    registers.fp
}

/// A return address without pointer-authentication bits (aarch64 keeps 48-bit addresses).
#[inline]
fn strip(address: usize) -> usize {
    #[cfg(target_arch = "aarch64")]
    {
        address & 0x0000_ffff_ffff_ffff
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        address
    }
}
