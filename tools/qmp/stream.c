/* SPDX-License-Identifier: MIT */
/*
 * The QMP value splitter (see stream.h for why it exists).
 */
#include "tools/qmp/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qmp_stream_init(struct qmp_stream *s)
{
	memset(s, 0, sizeof(*s));
}

void qmp_stream_fini(struct qmp_stream *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

void qmp_stream_reset(struct qmp_stream *s)
{
	char *buf = s->buf;
	size_t cap = s->cap;

	memset(s, 0, sizeof(*s));
	s->buf = buf;
	s->cap = cap;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* What ends a bare scalar: anything JSON would not let continue it. */
static bool ends_scalar(char c)
{
	return is_space(c) || strchr("{}[]\",:", c) != NULL;
}

static int append(struct qmp_stream *s, char c)
{
	if (s->len == s->cap) {
		/* Grows to the limit at most: over it the value is skipped, not stored. */
		size_t ncap = s->cap ? s->cap * 2 : 256;
		char *nbuf;

		if (ncap > QMP_STREAM_MAX_BYTES)
			ncap = QMP_STREAM_MAX_BYTES;
		nbuf = realloc(s->buf, ncap);
		if (!nbuf)
			return -ENOMEM;
		s->buf = nbuf;
		s->cap = ncap;
	}
	s->buf[s->len++] = c;
	return 0;
}

static void end_value(struct qmp_stream *s, const struct qmp_stream_ops *ops, void *opaque)
{
	if (!s->skipping)
		ops->value(opaque, s->buf, s->len);
	s->len = 0;
	s->depth = 0;
	s->in_value = s->in_string = s->escaped = s->scalar = s->skipping = false;
}

static void over_limit(struct qmp_stream *s, const struct qmp_stream_ops *ops, void *opaque,
		       const char *desc)
{
	if (!s->skipping)
		ops->error(opaque, desc);
	s->skipping = true;
	s->len = 0;
}

/* A byte at top level, between values. */
static void begin_value(struct qmp_stream *s, char c, const struct qmp_stream_ops *ops,
			void *opaque)
{
	char desc[64];

	if (c == '}' || c == ']') {
		snprintf(desc, sizeof(desc), "JSON parse error, stray '%c'", c);
		ops->error(opaque, desc);
		return;
	}
	s->in_value = true;
	if (c == '{' || c == '[')
		s->depth = 1;
	else if (c == '"')
		s->in_string = true;
	else
		s->scalar = true;
}

/* One byte inside a value (not its first).  Returns true when the value ended with it. */
static bool step(struct qmp_stream *s, char c)
{
	if (s->in_string) {
		if (s->escaped)
			s->escaped = false;
		else if (c == '\\')
			s->escaped = true;
		else if (c == '"')
			s->in_string = false;
		/* A top-level string ends with its closing quote. */
		return !s->in_string && s->depth == 0;
	}
	if (c == '"')
		s->in_string = true;
	else if (c == '{' || c == '[')
		s->depth++;
	else if ((c == '}' || c == ']') && s->depth > 0)
		return --s->depth == 0;
	return false;
}

int qmp_stream_feed(struct qmp_stream *s, const char *data, size_t n,
		    const struct qmp_stream_ops *ops, void *opaque)
{
	for (size_t i = 0; i < n; i++) {
		char c = data[i];

		if (s->scalar && ends_scalar(c)) {
			end_value(s, ops, opaque);
			/* The delimiter is the next value's business. */
		}
		if (!s->in_value) {
			if (is_space(c))
				continue;
			begin_value(s, c, ops, opaque);
			if (!s->in_value)
				continue;
			if (append(s, c))
				return -ENOMEM;
			continue;
		}
		if (!s->skipping) {
			if (s->len >= QMP_STREAM_MAX_BYTES)
				over_limit(s, ops, opaque, "QMP input exceeds 1048576 bytes");
			else if (append(s, c))
				return -ENOMEM;
		}
		if (step(s, c)) {
			end_value(s, ops, opaque);
			continue;
		}
		if (s->depth > QMP_STREAM_MAX_DEPTH)
			over_limit(s, ops, opaque, "QMP input nests deeper than 64 levels");
	}
	return 0;
}
