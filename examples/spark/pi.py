"""Estimate pi with Spark: the example Spark job of mesos-adapter.

Run by spark-submit inside a Mesos task (see ../spark-pi.yaml). The first
argument is the number of partitions.
"""

import random
import sys
from operator import add

from pyspark.sql import SparkSession


def inside(_: int) -> int:
    x, y = random.random() * 2 - 1, random.random() * 2 - 1
    return 1 if x * x + y * y <= 1 else 0


def main() -> None:
    partitions = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    samples = 100_000 * partitions
    spark = SparkSession.builder.appName("mesos-adapter-pi").getOrCreate()
    hits = spark.sparkContext.parallelize(range(samples), partitions)
    estimate = 4.0 * hits.map(inside).reduce(add) / samples
    print(f"pi is roughly {estimate:.4f}")
    spark.stop()


if __name__ == "__main__":
    main()
