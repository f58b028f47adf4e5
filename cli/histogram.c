/*-------------------------------------------------------------------------
 *
 * histogram.c
 *	  Latency histograms of the pulsar-pg benchmarks: recording values in
 *	  microseconds, percentiles, and the distribution written for plotting.
 *
 * Buckets are log-linear, as in HdrHistogram: values below 2 * SUB_BUCKETS
 * have a bucket each; above, each power of two is split into SUB_BUCKETS
 * equal buckets.  A value is thus known to within 1/SUB_BUCKETS (0.1%) of
 * itself, in a fixed 264 kB per histogram, up to 2^41 us (25 days).  The
 * mean and the maximum are kept exactly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "port/pg_bitutils.h"

#include "pulsar-pg.h"

#define SUB_BITS		10
#define SUB_BUCKETS		(1 << SUB_BITS)
#define MAX_SHIFT		31		/* values up to 2^(SUB_BITS + 31) us */
#define NUM_BUCKETS		((MAX_SHIFT + 2) * SUB_BUCKETS)

static int
bucket_of(int64 value)
{
	int			shift;
	int			index;

	if (value < 0)
		value = 0;
	if (value < 2 * SUB_BUCKETS)
		return (int) value;
	shift = pg_leftmost_one_pos64((uint64) value) - SUB_BITS;
	if (shift > MAX_SHIFT)
		return NUM_BUCKETS - 1;
	index = (shift + 1) * SUB_BUCKETS + (int) ((value >> shift) - SUB_BUCKETS);
	return index;
}

/* The smallest value that falls into a bucket */
static int64
bucket_low(int index)
{
	int			shift;

	if (index < 2 * SUB_BUCKETS)
		return index;
	shift = index / SUB_BUCKETS - 1;
	return ((int64) (index % SUB_BUCKETS) + SUB_BUCKETS) << shift;
}

/* The value a bucket stands for: the middle of its range */
static double
bucket_value(int index)
{
	if (index < 2 * SUB_BUCKETS)
		return index;
	return (bucket_low(index) + bucket_low(index + 1) - 1) / 2.0;
}

Histogram *
histogram_create(void)
{
	Histogram  *h = pg_malloc0(sizeof(Histogram));

	h->counts = pg_malloc0(sizeof(uint64) * NUM_BUCKETS);
	return h;
}

/* Record a value count times */
void
histogram_record(Histogram *h, int64 value, uint64 count)
{
	if (value < 0)
		value = 0;
	h->counts[bucket_of(value)] += count;
	h->total += count;
	h->sum += (double) value * count;
	if (value > h->max)
		h->max = value;
}

void
histogram_add(Histogram *into, const Histogram *from)
{
	for (int i = 0; i < NUM_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->total += from->total;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

void
histogram_reset(Histogram *h)
{
	memset(h->counts, 0, sizeof(uint64) * NUM_BUCKETS);
	h->total = 0;
	h->sum = 0;
	h->max = 0;
}

double
histogram_mean(const Histogram *h)
{
	return h->total ? h->sum / h->total : 0;
}

/*
 * The value at a percentile (0-100): the smallest bucket value with at
 * least that share of the values at or below it, never above the maximum.
 */
int64
histogram_percentile(const Histogram *h, double percentile)
{
	uint64		rank;
	uint64		seen = 0;

	if (h->total == 0)
		return 0;
	rank = (uint64) (percentile / 100.0 * h->total + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > h->total)
		rank = h->total;
	for (int i = 0; i < NUM_BUCKETS; i++)
	{
		seen += h->counts[i];
		if (seen >= rank)
		{
			int64		value = (int64) bucket_value(i);

			return Min(value, h->max);
		}
	}
	return h->max;
}

/*
 * Write the distribution for plotting: one line per non-empty bucket with
 * its value in milliseconds, its count and the share of values at or below
 * it (percent).  gnuplot reads it as is, e.g.
 *	 plot 'latency.hist' using 1:2 with impulses
 *	 plot 'latency.hist' using 3:1 with lines	(percentile curve)
 */
bool
histogram_write(const Histogram *h, const char *path)
{
	FILE	   *f = fopen(path, "w");
	uint64		seen = 0;

	if (f == NULL)
	{
		fprintf(stderr, "%s: could not open \"%s\": %m\n", progname, path);
		return false;
	}
	fprintf(f, "# latency_ms\tcount\tcumulative_percent\n");
	for (int i = 0; i < NUM_BUCKETS; i++)
	{
		if (h->counts[i] == 0)
			continue;
		seen += h->counts[i];
		fprintf(f, "%.3f\t" UINT64_FORMAT "\t%.4f\n",
				bucket_value(i) / 1000.0, h->counts[i],
				100.0 * seen / h->total);
	}
	if (fclose(f) != 0)
	{
		fprintf(stderr, "%s: could not write \"%s\": %m\n", progname, path);
		return false;
	}
	return true;
}
