namespace Hybrid.Engine.Kernels;

/// <summary>Length checks shared by the kernels: a short span is a caller's bug, so say which and by how much.</summary>
internal static class Shapes
{
    public static void Require(ReadOnlySpan<float> span, int length, string name)
    {
        if (span.Length < length)
            throw new ArgumentException($"{name}: expected at least {length} elements, found {span.Length}", name);
    }

    public static void Require(ReadOnlySpan<int> span, int length, string name)
    {
        if (span.Length < length)
            throw new ArgumentException($"{name}: expected at least {length} elements, found {span.Length}", name);
    }

    /// <summary>A flat buffer viewed as rows of <paramref name="columns"/> values must hold whole rows.</summary>
    public static void RequireRows(int length, int columns)
    {
        if (columns < 1 || length % columns != 0)
            throw new ArgumentException($"columns: expected a row length ≥ 1 that divides the {length} elements, found {columns}", nameof(columns));
    }

    /// <summary>rows[r], checked to name a row of a source with <paramref name="sourceRows"/> rows.</summary>
    public static int RowIndex(ReadOnlySpan<int> rows, int r, int sourceRows)
    {
        var row = rows[r];
        if ((uint)row >= (uint)sourceRows)
            throw new ArgumentOutOfRangeException(nameof(rows), row, $"rows[{r}]: expected a row in [0, {sourceRows}), found {row}");
        return row;
    }

    /// <summary>The diagonal skip's width k must fit both the input (d) and the output (n).</summary>
    public static int DiagonalWidth(ReadOnlySpan<float> w, int d, int n)
    {
        var most = Math.Min(d, n);
        if (w.Length > most)
            throw new ArgumentException($"w: expected at most min(d, n) = {most} elements, found {w.Length}", nameof(w));
        return w.Length;
    }
}
