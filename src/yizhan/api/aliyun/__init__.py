"""The Alibaba Cloud SMS (Dysmsapi 2017-05-25) compatible RPC endpoint."""
