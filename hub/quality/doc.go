// Package quality is an identity-quality benchmark that is independent of
// the matcher in hub/identity: its generator corrupts records the way real
// data goes wrong (keyboard typos, transpositions, OCR confusions, phonetic
// spellings, nicknames, swapped names, missing values, moves), keeps the
// ground truth, and Score measures a clustering pairwise against it.
package quality
