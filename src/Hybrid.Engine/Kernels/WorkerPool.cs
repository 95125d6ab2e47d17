using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// The caller plus <c>threads − 1</c> persistent helper threads that share the parts of one job.
/// Part p belongs to thread p mod <see cref="Threads"/> (the caller is thread 0), so the same core
/// computes the same rows of every product, step after step: the rows a core wrote stay in its
/// cache for the next pass that reads them, instead of crossing to the other core (see
/// docs/threads.md). A part no helper has started a few microseconds after the caller finished its
/// own is run by the caller, so a helper the OS has not scheduled (two cores shared with the JIT's
/// background compiler, say) does not hold the job up. Helpers spin briefly after each job, so
/// back-to-back jobs (the products of one training step) fork and join in about a microsecond, then
/// park so an idle pool costs nothing. A call allocates nothing: the job is a struct reached through
/// a pointer to the caller's stack.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    // Long enough to bridge the element-wise work between two products, short enough not to
    // hold a core hostage when training pauses.
    private static readonly long SpinTicks = Stopwatch.Frequency / 5_000;

    // 5 µs: a spinning helper on a distant core starts its part within about 3 µs (a generation
    // seen, a claim won: two cache-line trips of up to 1.5 µs each on this project's machines).
    private static readonly long TakeOverTicks = Stopwatch.Frequency / 200_000;

    private readonly Helper[] _helpers;

    // High 32 bits: the job's generation; low 32 bits: how many threads have parts in it. A helper
    // without parts touches nothing and waits for the next generation.
    private long _state;
    private int _generation;
    private int _parts;

    // One flag per part, set by the thread that runs it. The job's fields are written before the
    // flags are cleared, so a thread that wins a flag sees the job it belongs to, even when it woke
    // up late and the job it was woken for has long finished. Unused flags stay set.
    private int[] _claims = [];
    private int _completed;
    private void* _job;
    private delegate*<void*, int, void> _invoke;
    private Exception? _failure;
    private int _busy;
    private volatile bool _disposed;

    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _helpers = new Helper[threads - 1];
        for (var i = 0; i < _helpers.Length; i++)
        {
            var helper = new Helper(i + 1);
            helper.Thread = new Thread(HelperLoop) { IsBackground = true, Name = $"Hybrid worker {i + 1}" };
            _helpers[i] = helper;
            helper.Thread.Start(helper);
        }
    }

    /// <summary>The caller plus the helper threads.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs <c>job.Execute(part)</c> for every part in [0, parts) on the caller and the helpers and
    /// returns when all are done. The first exception thrown by a part is rethrown here. Changes the
    /// parts make to the job's own fields are copied back into <paramref name="job"/>. A nested or
    /// concurrent call runs its parts on the calling thread alone.
    /// </summary>
    public void Run<TJob>(ref TJob job, int parts) where TJob : struct, IParallelJob
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(parts);
        if (parts <= 1 || _helpers.Length == 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (var part = 0; part < parts; part++) job.Execute(part);
            return;
        }

        try
        {
            // A local copy lives on this frame until every part has finished, so helpers may reach
            // it through a raw pointer; the caller's ref might point into the movable heap.
            var local = job;
            _job = Unsafe.AsPointer(ref local);
            _invoke = &Invoke<TJob>;
            _parts = parts;
            _completed = 0;
            _failure = null;
            OpenClaims(parts);
            Interlocked.Exchange(ref _state, ((long)unchecked(++_generation) << 32) | (uint)Math.Min(parts, Threads));
            foreach (var helper in _helpers)
            {
                if (Interlocked.Exchange(ref helper.Parked, 0) == 1) helper.Signal.Release();
            }

            var start = Stopwatch.GetTimestamp();
            RunOwnParts(0);
            var end = Stopwatch.GetTimestamp();
            WaitForTheRest(parts, takeOverAt: end + Math.Min(end - start, TakeOverTicks));
            job = local;
            _job = null;
            if (_failure is { } failure)
            {
                _failure = null;
                ExceptionDispatchInfo.Throw(failure);
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Interlocked.Exchange(ref _state, (long)unchecked(++_generation) << 32);
        foreach (var helper in _helpers) helper.Signal.Release();
        foreach (var helper in _helpers)
        {
            helper.Thread!.Join();
            helper.Signal.Dispose();
        }
    }

    private static void Invoke<TJob>(void* job, int part) where TJob : struct, IParallelJob =>
        Unsafe.AsRef<TJob>(job).Execute(part);

    private void OpenClaims(int parts)
    {
        if (_claims.Length < parts)
        {
            var grown = new int[parts];
            Array.Fill(grown, 1);
            _claims = grown;
        }

        for (var part = 0; part < parts; part++) Volatile.Write(ref _claims[part], 0);
    }

    private void RunOwnParts(int thread)
    {
        var parts = Volatile.Read(ref _parts);
        for (var part = thread; part < parts; part += Threads) TryRun(part);
    }

    // After a short grace the caller runs any part no helper has started: a helper that is merely
    // a little late keeps its rows, and one the OS has not scheduled does not hold the job up.
    private void WaitForTheRest(int parts, long takeOverAt)
    {
        var spin = default(SpinWait);
        var tookOver = false;
        while (Volatile.Read(ref _completed) < parts)
        {
            if (!tookOver && Stopwatch.GetTimestamp() >= takeOverAt)
            {
                tookOver = true;
                for (var part = 0; part < parts; part++) TryRun(part);
                continue;
            }

            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    private void TryRun(int part)
    {
        var claims = Volatile.Read(ref _claims);
        if (part >= claims.Length || Interlocked.Exchange(ref claims[part], 1) != 0) return;
        try
        {
            _invoke(_job, part);
        }
#pragma warning disable CA1031 // Any exception from a part must reach the caller, not end the thread.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Interlocked.CompareExchange(ref _failure, e, null);
        }
        finally
        {
            Interlocked.Increment(ref _completed);
        }
    }

    private void HelperLoop(object? self)
    {
        var helper = (Helper)self!;
        var seen = 0;
        while (true)
        {
            var state = WaitForNewGeneration(helper, seen);
            if (_disposed) return;
            seen = (int)(state >> 32);
            if (helper.Index < (int)state) RunOwnParts(helper.Index);
        }
    }

    // Returns the new state: its generation and how many threads have parts.
    private long WaitForNewGeneration(Helper helper, int seen)
    {
        var deadline = Stopwatch.GetTimestamp() + SpinTicks;
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if ((int)(state >> 32) != seen || _disposed) return state;
            if (Stopwatch.GetTimestamp() < deadline)
            {
                Thread.SpinWait(8);
                continue;
            }

            // Announce the park before the last look, and Run bumps the generation before it looks
            // for parked helpers: one of the two always sees the other, so no wake-up is lost.
            // A surplus release only makes a later Wait return early, and the loop looks again.
            Interlocked.Exchange(ref helper.Parked, 1);
            state = Volatile.Read(ref _state);
            if ((int)(state >> 32) != seen || _disposed)
            {
                Volatile.Write(ref helper.Parked, 0);
                return state;
            }

            helper.Signal.Wait();
            deadline = Stopwatch.GetTimestamp() + SpinTicks;
        }
    }

    private sealed class Helper(int index)
    {
        public readonly SemaphoreSlim Signal = new(0);
        public readonly int Index = index;
        public Thread? Thread;
        public int Parked;
    }
}
