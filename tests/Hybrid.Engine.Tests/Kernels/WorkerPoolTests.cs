using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Tests.Kernels;

public sealed class WorkerPoolTests
{
    [Fact]
    public void RejectsFewerThanOneThread()
    {
        Assert.Throws<ArgumentOutOfRangeException>("threads", () => new WorkerPool(0));
    }

    public static TheoryData<int, int> PartCounts()
    {
        var data = new TheoryData<int, int>();
        foreach (var threads in new[] { 1, 2, 3 })
        {
            foreach (var parts in new[] { 0, 1, 2, 3, 7, 64 }) data.Add(threads, parts);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PartCounts))]
    public void EveryPartRunsExactlyOnce(int threads, int parts)
    {
        using var pool = new WorkerPool(threads);
        var job = new CountingJob(new int[parts]);

        pool.Run(ref job, parts);

        Assert.All(job.Counts, count => Assert.Equal(1, count));
    }

    [Fact]
    public void ManyRoundsEachRunEveryPartOnce()
    {
        using var pool = new WorkerPool(2);
        var job = new CountingJob(new int[4]);

        for (var round = 0; round < 100_000; round++) pool.Run(ref job, 4);

        Assert.All(job.Counts, count => Assert.Equal(100_000, count));
    }

    [Fact]
    public void WakesParkedHelpers()
    {
        using var pool = new WorkerPool(2);
        var job = new CountingJob(new int[2]);

        for (var round = 0; round < 20; round++)
        {
            Thread.Sleep(3);
            pool.Run(ref job, 2);
        }

        Assert.All(job.Counts, count => Assert.Equal(20, count));
    }

    [Fact]
    public void ChangesToTheJobReachTheCaller()
    {
        using var pool = new WorkerPool(2);
        var job = new SummingJob();

        pool.Run(ref job, 10);

        Assert.Equal(45, job.Sum);
    }

    [Fact]
    public void AnExceptionInAPartReachesTheCallerAndThePoolLivesOn()
    {
        using var pool = new WorkerPool(2);
        var failing = new FailingJob(3);
        var counting = new CountingJob(new int[8]);

        var error = Assert.Throws<InvalidOperationException>(() => pool.Run(ref failing, 8));
        pool.Run(ref counting, 8);

        Assert.Equal("part 3", error.Message);
        Assert.All(counting.Counts, count => Assert.Equal(1, count));
    }

    [Fact]
    public void ANestedRunCompletesOnTheCallingThread()
    {
        using var pool = new WorkerPool(2);
        var job = new NestingJob(pool, new int[4]);

        pool.Run(ref job, 2);

        Assert.All(job.Counts, count => Assert.Equal(2, count));
    }

    [Fact]
    public void RunAfterDisposeThrows()
    {
        var pool = new WorkerPool(2);
        pool.Dispose();
        var job = new CountingJob(new int[2]);

        Assert.Throws<ObjectDisposedException>(() => pool.Run(ref job, 2));
    }

    private readonly struct CountingJob(int[] counts) : IParallelJob
    {
        public int[] Counts { get; } = counts;

        public void Execute(int part) => Interlocked.Increment(ref Counts[part]);
    }

    private struct SummingJob : IParallelJob
    {
        public int Sum;

        public void Execute(int part) => Interlocked.Add(ref Sum, part);
    }

    private readonly struct FailingJob(int failingPart) : IParallelJob
    {
        public void Execute(int part)
        {
            if (part == failingPart) throw new InvalidOperationException($"part {part}");
        }
    }

    private readonly struct NestingJob(WorkerPool pool, int[] counts) : IParallelJob
    {
        public int[] Counts { get; } = counts;

        public void Execute(int part)
        {
            var inner = new CountingJob(Counts);
            pool.Run(ref inner, Counts.Length);
        }
    }
}
