/* SPDX-License-Identifier: MIT */
/* A shared object that is not a transport module: no rmig_transport_init. */
int rmig_test_not_a_transport(void);

int rmig_test_not_a_transport(void)
{
	return 42;
}
