/* SPDX-License-Identifier: MIT */
/*
 * How fuzz_multifd cuts one input into a source's main stream and its
 * channels, and how gen_multifd_seeds packs real ones:
 *
 *   u8  nseg                 connections offered as channels (at most 8)
 *   nseg x u32 length        big-endian, each clamped to what is left
 *   nseg segments            each as a channel sends it: hello, records
 *   the rest                 the main stream: header, records, trailer
 */
#ifndef RMIG_FUZZ_MULTIFD_INPUT_H
#define RMIG_FUZZ_MULTIFD_INPUT_H

#define FUZZ_MULTIFD_MAX_SEGMENTS 8

#endif /* RMIG_FUZZ_MULTIFD_INPUT_H */
