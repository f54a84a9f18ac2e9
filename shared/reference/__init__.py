"""Reference data shared by the services (areas of Kota Jambi)."""
