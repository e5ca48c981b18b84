/* SPDX-License-Identifier: MIT */
/* A module built for a transport ABI this rmig does not speak. */
#include "tests/plugin/modules/stub.h"

static const struct rmig_transport_ops ops = {
	STUB_SLOTS,
	.abi_version = 999,
	.scheme = "wrongabi",
	.read = stub_read,
};

const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version)
{
	(void)abi_version;
	return &ops;
}
