"""shipper package."""
