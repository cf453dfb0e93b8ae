"""Free the byte lists that componentize-py's runtime leaks.

componentize-py (0.25.1, the newest release; its runtime is the same on
its main branch) lowers every ``list<u8>`` that Python hands to WebAssembly
as ``bytes`` by copying it into a fresh allocation that nothing frees: in
``runtime/src/lib.rs``, ``impl Call for MyCall``, ``maybe_pop_list`` does
``alloc::alloc(Layout::from_size_align(len, 1))``, copies the bytes and
returns the pointer to wit-dylib without ``self.defer_deallocate(dst,
layout)`` (wit-dylib's FFI leaves a pointer returned by ``maybe_pop_list``
to the interpreter, which frees only what it deferred when the call context
drops). So:

* the ``list<u8>`` **result of an export** (``process-batch``, ``add-batch``
  & co.) stays in linear memory for good: the post-return function that
  wit-dylib generates (``cabi_post_<export>``) only calls
  ``wit_dylib_export_finish`` and pops the stack frame;
* a ``list<u8>`` **argument of an import** (``state.list-update``,
  ``map-put`` & co.) stays too: the import adapter never frees it.

Until componentize-py frees them, ``eddy-py-build`` patches the component
it built. In the core module that wit-dylib generated (it imports
``env.wit_dylib_dealloc_bytes`` and exports ``cabi_post_*``):

* the post-return function of every export returning ``list<u8>``,
  ``result<list<u8>, _>`` or ``option<list<u8>>`` first frees the list it
  returned (the canonical ABI has the host copy the result out before it
  calls post-return);
* every call of an imported function with ``list<u8>`` parameters goes to a
  new function that calls the import, then frees those lists (the host has
  copied them during the call).

The free is the runtime's own ``wit_dylib_dealloc_bytes(cx, ptr, len, 1,
defer=0)``, i.e. ``std::alloc::dealloc`` with the allocation's layout. A
``u8``/``s8`` list is always lowered through ``maybe_pop_list`` (it returns
a pointer for every one), never through wit-dylib's element-by-element path
whose allocation the call context frees, so nothing is freed twice. Strings
are not affected (the runtime keeps them in the call context, which frees
them).
"""

from __future__ import annotations

import re

# --- what the WIT says --------------------------------------------------------

# Canonical ABI return area of each result shape (wasm32): where the
# discriminant is (None: none), the value of it that carries the list, and
# the offsets of the list's pointer and length.
_SHAPES = {
    "list": (None, None, 0, 4),
    "result": (0, 0, 4, 8),  # result<list<u8>, E>: ok = 0
    "option": (0, 1, 4, 8),  # option<list<u8>>: some = 1
}
_BYTES = r"list<\s*[us]8\s*>"
_RESULT_SHAPES = [
    ("list", re.compile(rf"^{_BYTES}$")),
    ("result", re.compile(rf"^result<\s*{_BYTES}\s*(,.*)?>$")),
    ("option", re.compile(rf"^option<\s*{_BYTES}\s*>$")),
]
# Flat (core wasm) parameter count of the parameter types handled; a
# function with any other parameter type is left alone.
_FLAT = {"u8": 1, "s8": 1, "u16": 1, "s16": 1, "u32": 1, "s32": 1, "char": 1, "bool": 1,
         "u64": 1, "s64": 1, "f32": 1, "f64": 1, "string": 2}


def _functions(wit_text: str):
    text = re.sub(r"//[^\n]*", "", wit_text)
    for iface in re.finditer(r"\binterface\s+([\w-]+)\s*\{(.*?)\n\}", text, re.S):
        for func in re.finditer(r"([\w-]+)\s*:\s*func\s*\((.*?)\)\s*(?:->\s*([^;]+))?;", iface.group(2), re.S):
            yield iface.group(1), func.group(1), func.group(2), (func.group(3) or "").strip()


def byte_list_results(wit_text: str) -> dict[tuple[str, str], str]:
    """``(interface, function) -> shape`` of the functions returning a byte
    list (alone, as a result's ok case or in an option)."""
    found = {}
    for iface, name, _, result in _functions(wit_text):
        for shape, pattern in _RESULT_SHAPES:
            if pattern.match(result):
                found[(iface, name)] = shape
    return found


def byte_list_params(wit_text: str) -> dict[tuple[str, str], list[int]]:
    """``(interface, function) -> [flat index of each byte list's pointer]``
    of the functions taking byte lists (and otherwise only scalars and
    strings)."""
    found = {}
    for iface, name, params, _ in _functions(wit_text):
        flat, lists = 0, []
        for param in filter(None, (p.strip() for p in params.split(","))):
            ty = param.split(":", 1)[1].strip()
            if re.match(rf"^{_BYTES}$", ty):
                lists.append(flat)
                flat += 2
            elif ty in _FLAT:
                flat += _FLAT[ty]
            else:
                lists = []
                break
        if lists and flat <= 16:
            found[(iface, name)] = lists
    return found


# The custom section marking wit-dylib's module as patched.
_MARKER = "eddy-sdk-free-lists"

# --- wasm binary -------------------------------------------------------------


def _leb(b, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        x = b[i]
        i += 1
        result |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return result, i


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        x = n & 0x7F
        n >>= 7
        if n:
            out.append(x | 0x80)
        else:
            out.append(x)
            return bytes(out)


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        x = n & 0x7F
        n >>= 7
        if (n == 0 and not x & 0x40) or (n == -1 and x & 0x40):
            out.append(x)
            return bytes(out)
        out.append(x | 0x80)


def _name(b, i: int) -> tuple[str, int]:
    n, i = _leb(b, i)
    return bytes(b[i : i + n]).decode(), i + n


def _sections(b, start: int, end: int):
    i = start
    while i < end:
        sid = b[i]
        size, j = _leb(b, i + 1)
        yield sid, i, j, j + size
        i = j + size


def _section(sid: int, content: bytes) -> bytes:
    return bytes([sid]) + _uleb(len(content)) + content


def _skip_instruction(b, i: int) -> int:
    """The offset after the instruction at ``i`` (MVP, bulk memory,
    reference types, tail calls; no SIMD, atomics or GC)."""
    op = b[i]
    i += 1
    if op in (0x02, 0x03, 0x04):  # block type: 0x40, a value type or a type index
        _, i = _leb(b, i)
    elif op in (0x0C, 0x0D, 0x10, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0xD2):
        _, i = _leb(b, i)
    elif op == 0x0E:
        n, i = _leb(b, i)
        for _ in range(n + 1):
            _, i = _leb(b, i)
    elif op in (0x11, 0x13):
        _, i = _leb(b, i)
        _, i = _leb(b, i)
    elif op == 0x1C:
        n, i = _leb(b, i)
        i += n
    elif 0x28 <= op <= 0x3E:  # memarg
        align, i = _leb(b, i)
        if align & 0x40:
            _, i = _leb(b, i)
        _, i = _leb(b, i)
    elif op in (0x3F, 0x40, 0xD0):
        _, i = _leb(b, i)
    elif op in (0x41, 0x42):
        _, i = _leb(b, i)
    elif op == 0x43:
        i += 4
    elif op == 0x44:
        i += 8
    elif op == 0xFC:
        sub, i = _leb(b, i)
        immediates = {8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}.get(sub, 0)
        if sub > 17:
            raise ValueError(f"unexpected instruction 0xfc {sub}")
        for _ in range(immediates):
            _, i = _leb(b, i)
    elif op in (0xFD, 0xFE, 0xFB) or op in (0x06, 0x07, 0x08, 0x09, 0x0A, 0x14, 0x15, 0x18, 0x19, 0x1F):
        raise ValueError(f"unexpected instruction {op:#x}")
    return i


def _redirect_calls(body: bytes, targets: dict[int, int]) -> bytes:
    """``body`` (a function body) with ``call old`` made ``call new``."""
    nl, i = _leb(body, 0)
    for _ in range(nl):
        _, i = _leb(body, i)
        i += 1
    out = bytearray(body[:i])
    while i < len(body):
        j = _skip_instruction(body, i)
        if body[i] == 0x10:
            callee, _ = _leb(body, i + 1)
            if callee in targets:
                out += b"\x10" + _uleb(targets[callee])
                i = j
                continue
        out += body[i:j]
        i = j
    return bytes(out)


def _free(dealloc: int, ptr: bytes, length: bytes) -> bytes:
    """Instructions freeing the byte list whose pointer and length the
    instructions ``ptr`` and ``length`` push."""
    return (
        b"\x41\x00"  # i32.const 0: the call context, unused when not deferring
        + ptr
        + length
        + b"\x41\x01"  # i32.const 1: alignment
        + b"\x41\x00"  # i32.const 0: free now, not at the end of the call
        + b"\x10" + _uleb(dealloc)  # call wit_dylib_dealloc_bytes
    )


def _free_result(dealloc: int, shape: str) -> bytes:
    """Instructions freeing the byte list in the return area at local 0
    (the post-return function's parameter)."""
    tag_at, tag, ptr_at, len_at = _SHAPES[shape]
    free = _free(dealloc, b"\x20\x00\x28\x02" + _uleb(ptr_at), b"\x20\x00\x28\x02" + _uleb(len_at))
    if tag_at is None:
        return free
    return (
        b"\x20\x00\x2d\x00" + _uleb(tag_at)  # local.get 0; i32.load8_u
        + b"\x41" + _sleb(tag)
        + b"\x46"  # i32.eq
        + b"\x04\x40" + free + b"\x0b"  # if ... end
    )


def _patch_module(m: bytes, results, params) -> tuple[bytes, list[str]] | None:
    """``m`` (a core module) patched, and what was patched; None if it is
    not wit-dylib's module or has nothing to patch."""
    types = []  # (params, results): value types, one byte each
    func_imports = []  # (module, field, type index)
    funcs = []  # type index of each defined function
    exports = {}
    code = None
    for sid, start, a, z in _sections(m, 8, len(m)):
        if sid == 1:
            n, i = _leb(m, a)
            for _ in range(n):
                if m[i] != 0x60:
                    raise ValueError("unexpected type form")
                np, i = _leb(m, i + 1)
                p = bytes(m[i : i + np])
                i += np
                nr, i = _leb(m, i)
                types.append((p, bytes(m[i : i + nr])))
                i += nr
        elif sid == 2:
            n, i = _leb(m, a)
            for _ in range(n):
                module, i = _name(m, i)
                field, i = _name(m, i)
                kind = m[i]
                i += 1
                if kind == 0:
                    t, i = _leb(m, i)
                    func_imports.append((module, field, t))
                elif kind in (1, 2):
                    if kind == 1:
                        i += 1
                    flags, i = _leb(m, i)
                    _, i = _leb(m, i)
                    if flags & 1:
                        _, i = _leb(m, i)
                elif kind == 3:
                    i += 2
                else:
                    raise ValueError(f"unexpected import kind {kind}")
        elif sid == 3:
            n, i = _leb(m, a)
            for _ in range(n):
                t, i = _leb(m, i)
                funcs.append(t)
        elif sid == 7:
            n, i = _leb(m, a)
            for _ in range(n):
                field, i = _name(m, i)
                kind = m[i]
                index, i = _leb(m, i + 1)
                if kind == 0:
                    exports[field] = index
        elif sid == 10:
            code = (start, a, z)
        elif sid == 0 and _name(m, a)[0] == _MARKER:
            return None  # patched already
    dealloc = next(
        (k for k, (mod, f, _) in enumerate(func_imports) if (mod, f) == ("env", "wit_dylib_dealloc_bytes")), None
    )
    if dealloc is None or code is None or not any(e.startswith("cabi_post_") for e in exports):
        return None
    if types[func_imports[dealloc][2]] != (b"\x7f" * 5, b""):
        raise ValueError("wit_dylib_dealloc_bytes has an unexpected type")
    patched = []

    def wit_name(qualified: str) -> tuple[str, str]:
        iface, _, func = qualified.rpartition("#")
        return iface.split("/")[-1].split("@")[0], func

    # Post-return functions: code to put in front of their bodies.
    prepend = {}
    for field, index in exports.items():
        if field.startswith("cabi_post_"):
            shape = results.get(wit_name(field[len("cabi_post_") :]))
            if shape is not None:
                defined = index - len(func_imports)
                if types[funcs[defined]] != (b"\x7f", b""):
                    raise ValueError(f"{field} does not take a return area")
                prepend[defined] = _free_result(dealloc, shape)
                patched.append(field[len("cabi_post_") :] + " (result)")

    # Imports with byte-list parameters: a wrapper each, called instead.
    wrappers = {}  # import index -> (wrapper index, body)
    for k, (module, field, t) in enumerate(func_imports):
        if "/" not in module:
            continue
        lists = params.get((module.split("/")[-1].split("@")[0], field))
        if not lists:
            continue
        p, r = types[t]
        if any(p[at : at + 2] != b"\x7f\x7f" for at in lists):
            raise ValueError(f"{module}#{field}: unexpected core signature")
        body = b"\x00"  # no locals
        body += b"".join(b"\x20" + _uleb(n) for n in range(len(p))) + b"\x10" + _uleb(k)
        for at in lists:
            body += _free(dealloc, b"\x20" + _uleb(at), b"\x20" + _uleb(at + 1))
        body += b"\x0b"
        wrappers[k] = (len(func_imports) + len(funcs) + len(wrappers), t, body)
        patched.append(f"{module}#{field} (arguments)")
    if not patched:
        return None
    targets = {k: w[0] for k, w in wrappers.items()}

    start, a, z = code
    n, i = _leb(m, a)
    bodies = bytearray(_uleb(n + len(wrappers)))
    for defined in range(n):
        size, j = _leb(m, i)
        body = bytes(m[j : j + size])
        i = j + size
        if targets:
            body = _redirect_calls(body, targets)
        if defined in prepend:
            nl, k = _leb(body, 0)
            for _ in range(nl):
                _, k = _leb(body, k)
                k += 1
            body = body[:k] + prepend[defined] + body[k:]
        bodies += _uleb(len(body)) + body
    if i != z:
        raise ValueError("malformed code section")
    for _, _, body in wrappers.values():
        bodies += _uleb(len(body)) + body

    out = bytearray(m[:8])
    for sid, s, a2, z2 in _sections(m, 8, len(m)):
        if sid == 3 and wrappers:
            content = _uleb(len(funcs) + len(wrappers)) + m[_leb(m, a2)[1] : z2]
            content += b"".join(_uleb(t) for _, t, _ in wrappers.values())
            out += _section(3, content)
        elif sid == 10:
            out += _section(10, bytes(bodies))
        else:
            out += m[s:z2]
    out += _section(0, _uleb(len(_MARKER)) + _MARKER.encode())
    return bytes(out), patched


def patch_component(component: bytes, wit_text: str) -> tuple[bytes, list[str]]:
    """``component`` patched to free the byte lists of its exports' results
    and its imports' arguments, and what was patched ([]: returned as is)."""
    if component[:4] != b"\0asm" or component[4:8] != b"\x0d\x00\x01\x00":
        raise ValueError("not a WebAssembly component")
    results, params = byte_list_results(wit_text), byte_list_params(wit_text)
    out = bytearray(component[:8])
    patched = []
    for sid, s, a, z in _sections(component, 8, len(component)):
        if sid == 1 and not patched:
            done = _patch_module(component[a:z], results, params)
            if done is not None:
                module, patched = done
                out += _section(1, module)
                continue
        out += component[s:z]
    return bytes(out), patched
