//! DWARF unwinding of a captured stack, after the handler returned: `framehop` reads each
//! module's `.eh_frame` (which release builds keep) and walks the copy the handler took of
//! the stack, so frames of code built without frame pointers are found too.

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use framehop::{
    CacheNative, ExplicitModuleSectionInfo, MayAllocateDuringUnwind, Module, UnwindRegsNative,
    Unwinder, UnwinderNative,
};
use object::{Object, ObjectSection};

use crate::state::MAX_FRAMES;
use crate::sys;

/// What a capture's handler copied: `[pc, sp, fp, lr]` and the stack from `sp` up.
#[derive(Debug, Clone)]
pub(crate) struct StackCopy {
    pub(crate) registers: [usize; 4],
    pub(crate) stack: Vec<u64>,
}

/// The unwinder and its rule cache, kept between captures; rebuilt when modules change.
struct Dwarf {
    unwinder: UnwinderNative<Vec<u8>, MayAllocateDuringUnwind>,
    cache: CacheNative<MayAllocateDuringUnwind>,
    /// The modules it was built for, by name and bias.
    modules: Vec<(String, usize)>,
}

static DWARF: Mutex<Option<Dwarf>> = Mutex::new(None);

/// The return addresses of `copy`, innermost first (the first is the interrupted
/// instruction), as far as unwind information and the copied stack reach; `modules` are the
/// modules loaded now.
pub(crate) fn unwind(copy: &StackCopy, modules: &[sys::Module]) -> Vec<usize> {
    let identity: Vec<(String, usize)> = modules
        .iter()
        .map(|module| (module.name.clone(), module.bias))
        .collect();
    let mut dwarf = DWARF.lock().unwrap_or_else(PoisonError::into_inner);
    if dwarf.as_ref().is_none_or(|dwarf| dwarf.modules != identity) {
        let mut unwinder = UnwinderNative::new();
        for module in modules.iter().filter_map(load) {
            unwinder.add_module(module);
        }
        *dwarf = Some(Dwarf {
            unwinder,
            cache: CacheNative::new(),
            modules: identity,
        });
    }
    let Some(dwarf) = dwarf.as_mut() else {
        return Vec::new();
    };
    let [pc, sp, fp, _lr] = copy.registers;
    let base = sp as u64;
    let mut read_stack = |address: u64| -> Result<u64, ()> {
        let offset = address.checked_sub(base).ok_or(())?;
        if offset % 8 != 0 {
            return Err(());
        }
        let index = usize::try_from(offset / 8).map_err(|_| ())?;
        copy.stack.get(index).copied().ok_or(())
    };
    #[cfg(target_arch = "aarch64")]
    let registers = UnwindRegsNative::new(_lr as u64, sp as u64, fp as u64);
    #[cfg(not(target_arch = "aarch64"))]
    let registers = UnwindRegsNative::new(pc as u64, sp as u64, fp as u64);
    let mut frames =
        dwarf
            .unwinder
            .iter_frames(pc as u64, registers, &mut dwarf.cache, &mut read_stack);
    let mut addresses = Vec::new();
    while let Ok(Some(frame)) = frames.next() {
        addresses.push(frame.address() as usize);
        if addresses.len() >= MAX_FRAMES {
            break;
        }
    }
    addresses
}

/// A module's unwind sections, read from its file; `None` where there is no file (the vDSO:
/// framehop then falls back to its frame pointer) or it cannot be read.
fn load(module: &sys::Module) -> Option<Module<Vec<u8>>> {
    let data = std::fs::read(module.path.as_ref()?).ok()?;
    let file = object::File::parse(data.as_slice()).ok()?;
    let section = |name: &str| -> (Option<Range<u64>>, Option<Vec<u8>>) {
        match file.section_by_name(name) {
            Some(section) => (
                Some(section.address()..section.address() + section.size()),
                section.data().ok().map(<[u8]>::to_vec),
            ),
            None => (None, None),
        }
    };
    let (text_svma, text) = section(".text");
    let (eh_frame_svma, eh_frame) = section(".eh_frame");
    let (eh_frame_hdr_svma, eh_frame_hdr) = section(".eh_frame_hdr");
    let (got_svma, _) = section(".got");
    let start = module.ranges.iter().map(|range| range.start).min()?;
    let end = module.ranges.iter().map(|range| range.end).max()?;
    Some(Module::new(
        module.name.clone(),
        start as u64..end as u64,
        module.bias as u64,
        ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma,
            text,
            got_svma,
            eh_frame_svma,
            eh_frame,
            eh_frame_hdr_svma,
            eh_frame_hdr,
            ..Default::default()
        },
    ))
}
