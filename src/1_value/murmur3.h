/*-------------------------------------------------------------------------
 *
 * murmur3.h
 *	  The key hash Pulsar's clients use to choose a partition.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_MURMUR3_H
#define PULSAR_MURMUR3_H

extern uint32 murmur3_32(const unsigned char *data, size_t len, uint32 seed);
extern int32 murmur3_partition_for_key(const char *key, size_t len, int32 partitions);

#endif							/* PULSAR_MURMUR3_H */
