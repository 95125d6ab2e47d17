namespace Hybrid.Engine.Kernels;

/// <summary>Element-wise work over items [start, end) of a larger range: rows of a matrix or elements of a buffer.</summary>
internal interface IRangeBody
{
    void Run(int start, int end);
}

/// <summary>
/// Cuts [0, count) into one contiguous piece per part, each starting at a multiple of a grain. Every
/// item is computed by the same code whichever piece it falls in, so any number of parts gives the
/// same bits, provided the grain keeps each piece's vector/scalar boundary where a single pass puts
/// it (whole rows, or multiples of the widest vector).
/// </summary>
internal readonly struct RangeJob<TBody> : IParallelJob where TBody : struct, IRangeBody
{
    private readonly TBody _body;
    private readonly int _grains;
    private readonly int _grain;
    private readonly int _count;

    public RangeJob(TBody body, int count, int grain, int parts)
    {
        _body = body;
        _count = count;
        _grain = grain;
        _grains = (count + grain - 1) / grain;
        Parts = Math.Min(parts, _grains);
    }

    public int Parts { get; }

    public void Execute(int part)
    {
        var start = (int)((long)_grains * part / Parts) * _grain;
        var end = Math.Min((int)((long)_grains * (part + 1) / Parts) * _grain, _count);
        _body.Run(start, end);
    }
}
