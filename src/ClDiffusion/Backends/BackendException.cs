namespace ClDiffusion.Backends;

/// <summary>A backend's device failed (a driver call, an allocation): what layers above the backends catch, whatever the backend.</summary>
public class BackendException : Exception
{
    public BackendException(string message) : base(message) { }
    public BackendException(string message, Exception? inner) : base(message, inner) { }
}
