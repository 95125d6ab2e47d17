using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Reference;

/// <summary>The naive kernel set: the twin of <see cref="KernelSet.Fast"/> that every fast kernel is tested against.</summary>
public static class NaiveKernels
{
    public static KernelSet Create() => new(new NaiveMatrixProducts(), new NaiveElementwise());
}
