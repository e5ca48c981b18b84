/* SPDX-License-Identifier: MIT */
/* A module that leaves a mandatory slot (read) empty. */
#include "tests/plugin/modules/stub.h"

static const struct rmig_transport_ops ops = {
	STUB_SLOTS,
	.abi_version = RMIG_TRANSPORT_ABI_VERSION,
	.scheme = "missing",
	.read = NULL,
};

const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version)
{
	(void)abi_version;
	return &ops;
}
