"""The ECS API endpoint (``ecs-operator api serve``): existing ECS clients (the aws CLI, boto3,
the Go SDK behind Terraform and ecspresso) talk to the cluster through ECS's own JSON protocol,
authenticated with SigV4 and access keys kept in Secrets, acting as a Kubernetes identity so
that RBAC decides. Operations read and write only the custom resources. See docs/ecs-api.md."""
