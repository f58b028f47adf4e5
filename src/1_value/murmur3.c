/*-------------------------------------------------------------------------
 *
 * murmur3.c
 *	  MurmurHash3 (x86, 32-bit) and Pulsar's key-to-partition rule.
 *
 * Pulsar's clients route a keyed message to partition
 * (murmur3_32(utf8(key), seed 0) & INT32_MAX) mod partitions, so using the
 * same rule puts every key where a Pulsar user expects it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"

#include "1_value/murmur3.h"

static inline uint32
mix_block(uint32 k)
{
	k *= 0xcc9e2d51;
	k = pg_rotate_left32(k, 15);
	return k * 0x1b873593;
}

uint32
murmur3_32(const unsigned char *data, size_t len, uint32 seed)
{
	uint32		h = seed;
	size_t		nblocks = len / 4;
	uint32		tail = 0;

	for (size_t i = 0; i < nblocks; i++)
	{
		const unsigned char *b = data + i * 4;
		uint32		k = (uint32) b[0] | ((uint32) b[1] << 8) |
			((uint32) b[2] << 16) | ((uint32) b[3] << 24);

		h ^= mix_block(k);
		h = pg_rotate_left32(h, 13);
		h = h * 5 + 0xe6546b64;
	}

	for (size_t i = 0; i < len % 4; i++)
		tail |= (uint32) data[nblocks * 4 + i] << (i * 8);
	if (len % 4 != 0)
		h ^= mix_block(tail);

	h ^= (uint32) len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

int32
murmur3_partition_for_key(const char *key, size_t len, int32 partitions)
{
	uint32		hash = murmur3_32((const unsigned char *) key, len, 0);

	return (int32) ((hash & PG_INT32_MAX) % (uint32) partitions);
}
