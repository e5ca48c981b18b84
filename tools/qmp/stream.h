/* SPDX-License-Identifier: MIT */
/*
 * Cutting a QMP byte stream into JSON values.
 *
 * QMP clients do not frame their commands: QEMU's own Python library
 * sends one object after another with no newline, libvirt ends each with
 * "\r\n", and any of them may arrive split over many reads.  So, as QEMU's
 * JSON streamer does, this finds where each top-level value ends by
 * counting brackets outside strings, and hands the complete text to the
 * real parser (jansson).  It never parses values itself.
 *
 * It is also where hostile input is bounded: a value longer than
 * QMP_STREAM_MAX_BYTES or nested deeper than QMP_STREAM_MAX_DEPTH is
 * reported at once and then skipped to its end without being stored, so
 * memory stays bounded whatever arrives.
 */
#ifndef RMIG_TOOLS_QMP_STREAM_H
#define RMIG_TOOLS_QMP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QMP_STREAM_MAX_BYTES (1u << 20)
#define QMP_STREAM_MAX_DEPTH 64

struct qmp_stream_ops {
	/* A complete top-level value (not NUL-terminated). */
	void (*value)(void *opaque, const char *text, size_t len);
	/* Input that can never become a value, or one over a limit. */
	void (*error)(void *opaque, const char *desc);
};

struct qmp_stream {
	char *buf;
	size_t len, cap;
	uint64_t depth;	 /* brackets open; counted on past the limit while skipping */
	bool in_value;	 /* inside a top-level value */
	bool in_string;
	bool escaped;	 /* the previous byte in a string was a backslash */
	bool scalar;	 /* the value is a bare scalar (42, true): ends at a delimiter */
	bool skipping;	 /* over a limit: drop bytes until the value ends */
};

void qmp_stream_init(struct qmp_stream *s);
void qmp_stream_fini(struct qmp_stream *s);
/* Forget any partial value (a new client). */
void qmp_stream_reset(struct qmp_stream *s);
/* Feed bytes; calls @ops for every value or error they complete.  -ENOMEM only. */
int qmp_stream_feed(struct qmp_stream *s, const char *data, size_t n,
		    const struct qmp_stream_ops *ops, void *opaque);

#endif /* RMIG_TOOLS_QMP_STREAM_H */
