using NUnit.Framework;

namespace ClDiffusion.Tests;

/// <summary>A fresh folder under the system temp folder, removed with everything in it on Dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; }

    public TempFolder(string prefix = "cldiff-test")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    /// <summary>A path inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        // a file still held open (a failing test's writer) must not turn the failure into a teardown error
        try { if (Directory.Exists(Path)) Directory.Delete(Path, true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Base of fixtures whose tests write files: each test gets a fresh <see cref="dir"/> (NUnit runs this SetUp before
/// the fixture's own), removed after it.
/// </summary>
public abstract class TempFolderTests
{
    TempFolder? folder;
    /// <summary>This test's own folder.</summary>
    protected string dir => folder?.Path ?? throw new InvalidOperationException("no test is running");

    [SetUp] public void CreateTempFolder() => folder = new TempFolder($"cldiff-{GetType().Name}");
    [TearDown] public void RemoveTempFolder() { folder?.Dispose(); folder = null; }
}
