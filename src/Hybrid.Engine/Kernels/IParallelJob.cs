namespace Hybrid.Engine.Kernels;

/// <summary>
/// One job of <see cref="WorkerPool.Run{TJob}"/>: parts 0 … parts − 1 run concurrently, each exactly once.
/// A struct, so the pool can dispatch to it without boxing or a delegate.
/// </summary>
public interface IParallelJob
{
    void Execute(int part);
}
