using System.Runtime.InteropServices;
using ClDiffusion.Samplers;

namespace ClDiffusion.Native;

/// <summary>
/// A cld_sample_settings handle: sampler options set by name (the CLI's long option names, <see cref="SamplerOptionTable"/>)
/// as text, ONNX Runtime's options-object style. Each value is checked when it is set; a sampling call copies them.
/// </summary>
internal sealed class SampleSettings
{
    readonly object gate = new();
    readonly Dictionary<SamplerOptionInfo, string> values = [];

    public void Set(SamplerOptionInfo option, string? text)
    {
        if (text is not null) option.Set(SamplerOptions.Defaults, text);   // parse and check now: a bad value fails at the call that sets it
        lock (gate)
        {
            if (text is null) values.Remove(option);
            else values[option] = text;
        }
    }

    public string? Get(SamplerOptionInfo option) { lock (gate) return values.GetValueOrDefault(option); }

    /// <summary>`o` with every value set here, in the table's order.</summary>
    public SamplerOptions ApplyTo(SamplerOptions o)
    {
        lock (gate)
            foreach (var option in SamplerOptionTable.All)
                if (values.TryGetValue(option, out var text)) o = option.Parse(o, text);
        return o;
    }
}

/// <summary>The cld_sample_settings_* and cld_sample_setting_* exports (native/include/cldiffusion.h documents each).</summary>
internal static unsafe class SettingsExports
{
    static int Ok() { Errors.Clear(); return (int)Status.Ok; }
    static CldException Arg(string message) => new(Status.InvalidArgument, message);
    static string? Utf8(byte* p) => p is null ? null : Marshal.PtrToStringUTF8((nint)p);

    static SamplerOptionInfo Key(byte* key, string call)
    {
        string k = Utf8(key) ?? throw Arg($"{call}: key is NULL");
        return SamplerOptionTable.Find(k)
            ?? throw Arg($"{call}: unknown key '{k}' (known: {string.Join(", ", SamplerOptionTable.All.Select(o => o.Name))})");
    }

    /// <summary>The settings a cld_sample_options of ABI 3 or later points to (0: none).</summary>
    public static SamplerOptions Apply(SamplerOptions o, nint settings) =>
        settings == 0 ? o : Handles.Get<SampleSettings>(settings, HandleKind.Settings).ApplyTo(o);

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_settings_create")]
    public static int CldSampleSettingsCreate(nint* outSettings)
    {
        try
        {
            if (outSettings is null) throw Arg("out (cld_sample_settings**) is NULL");
            *outSettings = 0;
            *outSettings = Handles.Add(new SampleSettings(), HandleKind.Settings);
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_settings_destroy")]
    public static int CldSampleSettingsDestroy(nint settings)
    {
        try
        {
            if (settings == 0) return Ok();
            Handles.Remove<SampleSettings>(settings, HandleKind.Settings);
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_settings_set")]
    public static int CldSampleSettingsSet(nint settings, byte* key, byte* value)
    {
        try
        {
            var s = Handles.Get<SampleSettings>(settings, HandleKind.Settings);
            var option = Key(key, "cld_sample_settings_set");
            try { s.Set(option, Utf8(value)); }
            catch (ArgumentException e) { throw Arg($"cld_sample_settings_set: {e.Message}"); }
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_settings_get")]
    public static int CldSampleSettingsGet(nint settings, byte* key, byte* buf, nuint len)
    {
        try
        {
            var s = Handles.Get<SampleSettings>(settings, HandleKind.Settings);
            var option = Key(key, "cld_sample_settings_get");
            return Exports.CopyOut(s.Get(option) ?? option.DefaultText, buf, len, $"value of '{option.Name}'");
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_setting_count")]
    public static int CldSampleSettingCount(uint* count)
    {
        try
        {
            if (count is null) throw Arg("count is NULL");
            *count = (uint)SamplerOptionTable.All.Count;
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_setting_name")]
    public static int CldSampleSettingName(uint index, byte* buf, nuint len)
    {
        try
        {
            var all = SamplerOptionTable.All;
            if (index >= all.Count) throw Arg($"setting index {index} out of range (there are {all.Count} settings)");
            return Exports.CopyOut(all[(int)index].Name, buf, len, "setting name");
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }
}
