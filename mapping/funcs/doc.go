// Package funcs is the mapping language's function library: plain Go
// functions over values (phone numbers, countries, e-mail addresses, birth
// dates, genders) with no dependency on the language. Package mapping
// binds them to expression functions in its registration glue (names,
// arity, compile-time argument checks, examples, the warnings that drop a
// value), so a function here can be tested, benchmarked and reused on its
// own.
//
// A function answers "" (or false) for a value it cannot read; turning
// that into a dropped value and its warning is the glue's job.
//
// Phone carries the engine's fast path (compactPhone, fastPhone, which
// answer most numbers without libphonenumber's regular expressions) and a
// bounded cache of libphonenumber's answers; TestFastPhoneEquivalence and
// its fuzzer hold the fast path to libphonenumber.
package funcs
